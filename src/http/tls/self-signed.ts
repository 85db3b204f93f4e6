/**
 * A self-signed X.509 certificate for HTTPS on a LAN or for a trial: ECDSA P-256 key made with
 * WebCrypto, subjectAltName listing every name and address a browser may use, server
 * authentication only. No openssl needed (it runs in the Docker image as is); the X.509 encoding
 * is @peculiar/x509, which werift already depends on for its DTLS certificates.
 *
 * @example
 * const { cert, key } = await createSelfSigned({ hosts: ["localhost", "127.0.0.1"] });
 */
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { toPem } from "./certificate.ts";

/** Browsers refuse server certificates valid for more than 398 days; a year stays under. */
export const SELF_SIGNED_DAYS = 365;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Options of {@linkcode createSelfSigned}. */
export interface SelfSignedOptions {
  /** DNS names and IPv4 addresses for subjectAltName; the first is also the common name. */
  hosts: string[];
  /** Start of validity; default now (backdated an hour for clocks that lag). */
  now?: Date;
  days?: number;
}

/** A new key pair and certificate, both PEM (the key as PKCS #8). */
export async function createSelfSigned(
  options: SelfSignedOptions,
): Promise<{ cert: string; key: string }> {
  if (options.hosts.length === 0) throw new Error("a certificate needs at least one host");
  const now = options.now ?? new Date();
  const days = options.days ?? SELF_SIGNED_DAYS;
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; a clear top bit keeps it positive.
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(serial, (b) => b.toString(16).padStart(2, "0")).join(""),
    name: [{ CN: [`Quetzal self-signed (${options.hosts[0]})`] }],
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new SubjectAlternativeNameExtension(
        options.hosts.map((host) => ({
          type: isIpv4(host) ? "ip" as const : "dns" as const,
          value: host,
        })),
      ),
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    ],
  }, crypto);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    cert: toPem("CERTIFICATE", new Uint8Array(cert.rawData)),
    key: toPem("PRIVATE KEY", pkcs8),
  };
}

/** Dotted-quad IPv4 (what subjectAltName encodes as an iPAddress, not a dNSName). */
export function isIpv4(host: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(host) &&
    host.split(".").every((part) => Number(part) <= 255);
}
