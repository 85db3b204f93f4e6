/**
 * Test certificates for HTTPS tests: made with Quetzal's own self-signed generator, written to
 * a temporary directory as the PEM files an operator would pass with --tls-cert / --tls-key.
 */
import { type CertificateInfo, readCertificate } from "../../src/http/tls/certificate.ts";
import { createSelfSigned } from "../../src/http/tls/self-signed.ts";

/** The name browser tests map to 127.0.0.1: not localhost, so nothing is trusted by name. */
export const TEST_HOST = "quetzal.test";

/** A certificate and key, as text and as files. */
export interface TestCertificate {
  cert: string;
  key: string;
  info: CertificateInfo;
  certPath: string;
  keyPath: string;
}

/** Makes a certificate for localhost, 127.0.0.1 and {@linkcode TEST_HOST} and writes it to `dir`. */
export async function writeTestCertificate(dir: string, name = "test"): Promise<TestCertificate> {
  const { cert, key } = await createSelfSigned({ hosts: ["localhost", TEST_HOST, "127.0.0.1"] });
  const certPath = `${dir}/${name}-cert.pem`;
  const keyPath = `${dir}/${name}-key.pem`;
  await Deno.writeTextFile(certPath, cert);
  await Deno.writeTextFile(keyPath, key, { mode: 0o600 });
  return { cert, key, info: await readCertificate(cert), certPath, keyPath };
}

/**
 * Whether a TLS handshake with `127.0.0.1:port` succeeds when only `cert` is trusted: true
 * exactly when the server presents that certificate.
 */
export async function servesCertificate(port: number, cert: string): Promise<boolean> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [cert] });
    await conn.handshake();
    return true;
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}
