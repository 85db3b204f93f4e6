// What the start banner says about HTTPS: the fingerprint of a self-signed certificate, the
// reload hint for files, an expired certificate, and the camera hint for plain HTTP off loopback.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { CertificateInfo } from "../../src/http/tls/certificate.ts";
import { tlsBannerLines, type TlsStatus } from "../../src/http/tls/mod.ts";

function status(kind: TlsStatus["kind"], notAfter: Date, madeBecause: string | null = null) {
  const certificate: CertificateInfo = {
    fingerprint: "AB:CD",
    spkiSha256: "",
    notBefore: new Date(0),
    notAfter,
    hosts: ["localhost"],
  };
  const kept = kind === "self-signed"
    ? { certPath: ".quetzal/self-signed-cert.pem", madeBecause }
    : undefined;
  return { kind, certificate, kept, reload: () => Promise.resolve(false) };
}

const NEXT_YEAR = new Date(Date.now() + 365 * 86_400_000);

Deno.test("banner: a self-signed certificate shows its file and fingerprint, and why it is new", () => {
  const text = tlsBannerLines(status("self-signed", NEXT_YEAR, "none was kept"), "0.0.0.0")
    .join("\n");
  assertStringIncludes(text, "self-signed certificate, valid until");
  assertStringIncludes(text, "(new: none was kept)");
  assertStringIncludes(text, ".quetzal/self-signed-cert.pem");
  assertStringIncludes(text, "SHA-256:      AB:CD");
  const reused = tlsBannerLines(status("self-signed", NEXT_YEAR), "0.0.0.0").join("\n");
  assert(!reused.includes("(new:"));
});

Deno.test("banner: files say SIGHUP reloads them, and an expired certificate is named", () => {
  assertStringIncludes(
    tlsBannerLines(status("files", NEXT_YEAR), "0.0.0.0").join("\n"),
    "SIGHUP reloads the files",
  );
  assertStringIncludes(
    tlsBannerLines(status("files", new Date(Date.now() - 86_400_000)), "0.0.0.0").join("\n"),
    "EXPIRED on",
  );
});

Deno.test("banner: plain HTTP off loopback explains that cameras need HTTPS", () => {
  const text = tlsBannerLines(null, "0.0.0.0").join("\n");
  assertStringIncludes(text, "only on HTTPS pages");
  assertStringIncludes(text, "--tls-self-signed");
  assertEquals(tlsBannerLines(null, "127.0.0.1"), []);
  assertEquals(tlsBannerLines(null, "localhost"), []);
});
