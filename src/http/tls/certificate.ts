/**
 * What Quetzal needs to know about a PEM certificate: its SHA-256 fingerprint (what a person
 * compares with the browser's certificate viewer), the hash of its public key (what Chromium's
 * `--ignore-certificate-errors-spki-list` takes), validity and subjectAltName entries.
 *
 * @example
 * const info = await readCertificate(await Deno.readTextFile("cert.pem"));
 * console.log(info.fingerprint); // "3A:F1:…"
 */
import { SubjectAlternativeNameExtension, X509Certificate } from "@peculiar/x509";

/** A certificate's identity and validity. */
export interface CertificateInfo {
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ":". */
  fingerprint: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo. */
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  /** subjectAltName DNS names and IP addresses, in certificate order. */
  hosts: string[];
}

/** Reads the first certificate of a PEM file (the leaf of a chain); throws on anything else. */
export async function readCertificate(pem: string): Promise<CertificateInfo> {
  const block = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem);
  if (!block) throw new Error("no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
  const cert = new X509Certificate(block[0]);
  const der = new Uint8Array(cert.rawData);
  const spki = new Uint8Array(cert.publicKey.rawData);
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  return {
    fingerprint: hexPairs(await sha256(der)),
    spkiSha256: base64(await sha256(spki)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    hosts: (san?.names.items ?? [])
      .filter((name) => name.type === "dns" || name.type === "ip")
      .map((name) => name.value),
  };
}

/** PEM text of DER bytes: base64 in 64-character lines between BEGIN/END `label`. */
export function toPem(label: string, der: Uint8Array): string {
  const lines = base64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

function hexPairs(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
