/**
 * The self-signed certificate kept in the state directory: made on first start, reused on the
 * next ones (so a browser's "proceed anyway" and a person's fingerprint check stay valid), and
 * made anew when it expires soon or when the names and addresses it must cover changed.
 *
 * Files: `<dir>/self-signed-cert.pem` and `<dir>/self-signed-key.pem` (mode 0600, in a 0700
 * directory), each written to a temporary name first and renamed, so a crash never leaves half a
 * key.
 */
import { X509Certificate } from "@peculiar/x509";
import { type CertificateInfo, readCertificate } from "./certificate.ts";
import { createSelfSigned } from "./self-signed.ts";

/** Made anew when fewer days than this remain, so it never expires while the server runs long. */
export const RENEW_BEFORE_DAYS = 30;

export const CERT_FILE = "self-signed-cert.pem";
export const KEY_FILE = "self-signed-key.pem";

/** A kept or new certificate, and why it was (re)made. */
export interface KeptCertificate {
  cert: string;
  key: string;
  info: CertificateInfo;
  certPath: string;
  keyPath: string;
  /** Null when the kept one was reused; else why a new one was made. */
  madeBecause: string | null;
}

/** The kept certificate for `hosts` in `dir`, or a new one written there. */
export async function keptSelfSigned(
  dir: string,
  hosts: string[],
  now = new Date(),
): Promise<KeptCertificate> {
  const certPath = `${dir}/${CERT_FILE}`;
  const keyPath = `${dir}/${KEY_FILE}`;
  const kept = await readKept(certPath, keyPath);
  const reason = typeof kept === "string" ? kept : staleBecause(kept.info, hosts, now);
  if (reason === null && typeof kept !== "string") {
    return { ...kept, certPath, keyPath, madeBecause: null };
  }
  const made = await createSelfSigned({ hosts, now });
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(keyPath, made.key, 0o600);
  await writeAtomically(certPath, made.cert, 0o644);
  return {
    ...made,
    info: await readCertificate(made.cert),
    certPath,
    keyPath,
    madeBecause: reason,
  };
}

/** The kept pair, or why there is none that can be used. */
async function readKept(
  certPath: string,
  keyPath: string,
): Promise<{ cert: string; key: string; info: CertificateInfo } | string> {
  let cert: string, key: string;
  try {
    [cert, key] = await Promise.all([Deno.readTextFile(certPath), Deno.readTextFile(keyPath)]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "none was kept";
    throw error;
  }
  try {
    const info = await readCertificate(cert);
    if (!(await keyMatches(key, cert))) return "the kept key does not match the kept certificate";
    return { cert, key, info };
  } catch (error) {
    return `the kept certificate is unreadable (${(error as Error).message})`;
  }
}

function staleBecause(info: CertificateInfo, hosts: string[], now: Date): string | null {
  const day = 86_400_000;
  if (info.notAfter.getTime() - now.getTime() < RENEW_BEFORE_DAYS * day) {
    const date = info.notAfter.toISOString().slice(0, 10);
    return info.notAfter <= now
      ? `the kept one expired on ${date}`
      : `the kept one expires ${date}`;
  }
  const added = hosts.filter((h) => !info.hosts.includes(h));
  const removed = info.hosts.filter((h) => !hosts.includes(h));
  if (added.length === 0 && removed.length === 0) return null;
  const change = [
    ...added.map((h) => `+${h}`),
    ...removed.map((h) => `-${h}`),
  ].join(" ");
  return `the names and addresses changed (${change})`;
}

/** Whether a PKCS #8 ECDSA P-256 key is the private half of the certificate's public key. */
async function keyMatches(keyPem: string, certPem: string): Promise<boolean> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const der = Uint8Array.from(
    atob(keyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")),
    (c) => c.charCodeAt(0),
  );
  const privateKey = await crypto.subtle.importKey("pkcs8", der, algorithm, true, ["sign"]);
  const publicKey = await new X509Certificate(certPem).publicKey.export(
    algorithm,
    ["verify"],
    crypto,
  );
  const a = await crypto.subtle.exportKey("jwk", privateKey);
  const b = await crypto.subtle.exportKey("jwk", publicKey);
  return a.x === b.x && a.y === b.y;
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, text, { mode, createNew: true });
    // mode applies only to a new file, and the umask may narrow it; chmod makes it exact.
    await Deno.chmod(temporary, mode);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
