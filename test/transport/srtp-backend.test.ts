import { assertEquals, assertThrows } from "@std/assert";
import { selectSrtpBackend, type SrtpMode } from "../../src/transport/srtp-backend.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";

// Loaded at module level: the library stays open for the process (see srtp-libsrtp.ts).
const status = loadLibsrtp();

Deno.test("srtp backend: ts is always available", () => {
  assertEquals(selectSrtpBackend("ts").name, "ts");
});

Deno.test("srtp backend: auto prefers libsrtp and falls back to ts", () => {
  assertEquals(selectSrtpBackend("auto").name, status.available ? "libsrtp" : "ts");
});

Deno.test("srtp backend: libsrtp is returned or refused with the reason", () => {
  if (status.available) assertEquals(selectSrtpBackend("libsrtp").name, "libsrtp");
  else assertThrows(() => selectSrtpBackend("libsrtp"), Error, status.reason);
});

Deno.test("srtp backend: unknown modes are rejected", () => {
  assertThrows(() => selectSrtpBackend("openssl" as SrtpMode), Error, "unknown SRTP mode");
});
