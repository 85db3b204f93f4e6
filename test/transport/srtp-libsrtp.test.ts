import { assertEquals } from "@std/assert";
import {
  keysFor,
  mirror,
  PROFILES,
  protect,
  protectRtcp,
  rtcp,
  rtp,
  runSrtpConformance,
} from "./srtp.case.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { tsSrtpBackend } from "../../src/transport/srtp-ts.ts";

// Loaded at module level: the library stays open for the process (see srtp-libsrtp.ts).
const status = loadLibsrtp();

if (!status.available) {
  console.log(`skipping libsrtp SRTP tests: ${status.reason} (CI installs libsrtp2-1)`);
  Deno.test({ name: "srtp libsrtp: conformance (library unavailable)", ignore: true, fn() {} });
} else {
  const libsrtp = status.backend;
  runSrtpConformance(libsrtp);

  for (const [profileName, profile] of PROFILES) {
    Deno.test(`srtp libsrtp ${profileName}: bit-exact with the TypeScript backend`, () => {
      const keys = keysFor(profile, 33);
      const ours = tsSrtpBackend.createSession(keys);
      const theirs = libsrtp.createSession(keys);
      const oursPeer = tsSrtpBackend.createSession(mirror(keys));
      const theirsPeer = libsrtp.createSession(mirror(keys));
      try {
        // Contiguous through a wrap, then forward jumps (a sender never goes backwards).
        const wrap = [...Array(40).keys()].map((i) => (65520 + i) & 0xffff);
        for (const seq of wrap.concat([1000, 1001, 30000, 50000, 50001])) {
          const packet = rtp({
            seq,
            payloadLength: (seq * 7) % 1200,
            padding: seq % 5 === 0 ? 4 : 0,
            csrcs: seq % 3 === 0 ? [seq] : [],
            extensions: seq % 2 === 0 ? [[1, [seq & 0xff]], [4, [1, 2, 3]]] : undefined,
          });
          const a = protect(ours, packet);
          const b = protect(theirs, packet);
          assertEquals(a, b, `seq ${seq}`);
        }
        for (const words of [0, 3, 20]) {
          const packet = rtcp(0x12345678, words);
          const a = protectRtcp(ours, packet);
          const b = protectRtcp(theirs, packet);
          assertEquals(a, b);
          // Each backend's receiver accepts the other's packets.
          const out = new Uint8Array(a.length);
          assertEquals(oursPeer.unprotectRtcp(b, b.length, out), packet.length);
          assertEquals(theirsPeer.unprotectRtcp(a, a.length, out), packet.length);
          assertEquals(out.subarray(0, packet.length), packet);
        }
      } finally {
        ours.close();
        theirs.close();
        oursPeer.close();
        theirsPeer.close();
      }
    });
  }
}
