/**
 * Where the HTTPS certificate comes from, as configured: PEM files (`--tls-cert`, `--tls-key`),
 * re-read on every reload, or the self-signed one kept in `--state-dir`. Problems at start are
 * ConfigErrors naming the flag; the same problems on reload are plain errors the listener logs.
 */
import { type Config, ConfigError } from "../../config.ts";
import { type CertificateInfo, readCertificate } from "./certificate.ts";
import { keptSelfSigned } from "./kept.ts";
import { isIpv4 } from "./self-signed.ts";

/** A certificate and key to serve, both PEM. */
export interface TlsMaterial {
  cert: string;
  key: string;
  info: CertificateInfo;
}

/** How to (re)load the certificate. */
export interface TlsSource {
  kind: "files" | "self-signed";
  /** Reads the certificate again (files) or checks the kept one (self-signed). */
  load(): Promise<TlsMaterial>;
}

/** The first load, with what the banner and logs say about it. */
export interface ResolvedTls {
  source: TlsSource;
  material: TlsMaterial;
  /** Self-signed: where it is kept and, when it was just made, why. */
  kept?: { certPath: string; madeBecause: string | null };
}

/** The TLS source `config` asks for and its first certificate, or null for plain HTTP. */
export async function resolveTls(
  config: Pick<Config, "tlsCert" | "tlsKey" | "tlsSelfSigned" | "stateDir" | "host">,
  announcedIps: string[],
): Promise<ResolvedTls | null> {
  const { tlsCert, tlsKey, tlsSelfSigned } = config;
  if (tlsSelfSigned && (tlsCert || tlsKey)) {
    throw new ConfigError(
      "--tls-self-signed / QUETZAL_TLS_SELF_SIGNED: cannot be combined with --tls-cert and " +
        "--tls-key (choose your own certificate or a self-signed one)",
    );
  }
  if (tlsCert && !tlsKey) throw new ConfigError("--tls-key / QUETZAL_TLS_KEY: --tls-cert needs it");
  if (tlsKey && !tlsCert) {
    throw new ConfigError("--tls-cert / QUETZAL_TLS_CERT: --tls-key needs it");
  }
  if (tlsCert && tlsKey) {
    const source = filesSource(tlsCert, tlsKey);
    return { source, material: await asConfigError(source.load()) };
  }
  if (!tlsSelfSigned) return null;
  const hosts = selfSignedHosts(config.host, announcedIps);
  const load = () => keptSelfSigned(config.stateDir, hosts);
  const first = await load().catch((error) => {
    throw new ConfigError(
      `--state-dir / QUETZAL_STATE_DIR: cannot keep the self-signed certificate in ` +
        `"${config.stateDir}": ${(error as Error).message}` +
        (error instanceof Deno.errors.NotCapable
          ? ` (give Deno --allow-write=${config.stateDir})`
          : ""),
    );
  });
  return {
    source: { kind: "self-signed", load },
    material: first,
    kept: { certPath: first.certPath, madeBecause: first.madeBecause },
  };
}

function filesSource(certPath: string, keyPath: string): TlsSource {
  return {
    kind: "files",
    async load() {
      const cert = await readPem(certPath, "--tls-cert / QUETZAL_TLS_CERT", "CERTIFICATE");
      const key = await readPem(keyPath, "--tls-key / QUETZAL_TLS_KEY", "PRIVATE KEY");
      let info: CertificateInfo;
      try {
        info = await readCertificate(cert);
      } catch (error) {
        throw new TlsFileError(
          "--tls-cert / QUETZAL_TLS_CERT",
          `${certPath}: ${(error as Error).message}`,
        );
      }
      return { cert, key, info };
    },
  };
}

/** A bad certificate or key file; `flag` names the setting that points at it. */
export class TlsFileError extends Error {
  override name = "TlsFileError";
  constructor(readonly flag: string, detail: string) {
    super(`${flag}: ${detail}`);
  }
}

async function readPem(path: string, flag: string, label: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TlsFileError(flag, `cannot read ${path}: ${(error as Error).message}`);
  }
  // "PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY", which Deno reads too.
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new TlsFileError(flag, `${path} has no PEM "${label}" block`);
  }
  return text;
}

async function asConfigError<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof TlsFileError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * What the self-signed certificate covers: the loopback names, the bind address when it is a
 * specific one, every announced address and this machine's host name, so that whichever of them
 * a person types the browser sees a matching name.
 */
export function selfSignedHosts(host: string, announcedIps: string[]): string[] {
  const hosts = ["localhost", "127.0.0.1", ...announcedIps];
  if (host !== "0.0.0.0" && host !== "::" && !host.includes(":")) hosts.push(host);
  const name = hostName();
  if (name) hosts.push(name);
  return hosts.filter((h, i) => hosts.indexOf(h) === i).sort(byKindThenName);
}

function hostName(): string | null {
  try {
    const name = Deno.hostname().toLowerCase();
    return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)
      ? name
      : null;
  } catch {
    return null;
  }
}

/** Names before addresses, "localhost" first, so the common name is the friendly one. */
function byKindThenName(a: string, b: string): number {
  const rank = (h: string) => h === "localhost" ? 0 : isIpv4(h) ? 2 : 1;
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}
