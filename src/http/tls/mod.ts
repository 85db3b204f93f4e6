/**
 * HTTPS for Quetzal, as server.ts uses it: `resolveTls` reads the configured certificate before
 * anything else starts (a bad file stops the start with the flag named), `startListener` serves
 * with it, and `tlsBannerLines` tells the person at the console what they need to know.
 */
import { ConfigError } from "../../config.ts";
import type { Logger } from "../../observability/log.ts";
import type { CertificateInfo } from "./certificate.ts";
import { type Handler, listen, type Listener } from "./listener.ts";
import type { ResolvedTls } from "./source.ts";

export { type CertificateInfo } from "./certificate.ts";
export { type Listener } from "./listener.ts";
export { type ResolvedTls, resolveTls } from "./source.ts";

/** Certificates with fewer days left than this get a warning at start (ACME renews at 30). */
const RENEWAL_WARNING_DAYS = 14;

/** What a running server says about its HTTPS. */
export interface TlsStatus {
  kind: "files" | "self-signed";
  /** The certificate served now. */
  readonly certificate: CertificateInfo;
  /** Self-signed: the kept file, and why it was made at this start (null: reused). */
  kept?: { certPath: string; madeBecause: string | null };
  /** Loads the certificate again (as SIGHUP does); true when a new one is served. */
  reload(): Promise<boolean>;
}

/** Binds `hostname:port`, with TLS when `tls` is given; certificate problems name the flag. */
export async function startListener(
  where: { hostname: string; port: number },
  tls: ResolvedTls | null,
  handler: Handler,
  logger: Logger,
): Promise<{ listener: Listener; tls: TlsStatus | null }> {
  let listener: Listener;
  try {
    listener = await listen({ ...where, tls, handler, logger });
  } catch (error) {
    // Deno checks the PEM blocks and that the key belongs to the certificate when it binds.
    if (tls?.source.kind === "files" && !(error instanceof Deno.errors.AddrInUse)) {
      throw new ConfigError(
        `--tls-cert / --tls-key: cannot serve this certificate and key: ${
          (error as Error).message
        }`,
      );
    }
    throw error;
  }
  if (!tls) return { listener, tls: null };
  const left = tls.material.info.notAfter.getTime() - Date.now();
  if (left < RENEWAL_WARNING_DAYS * 86_400_000) {
    logger.warn(left <= 0 ? "tls certificate expired" : "tls certificate expires soon", {
      notAfter: tls.material.info.notAfter.toISOString(),
      fingerprint: tls.material.info.fingerprint,
    });
  }
  return {
    listener,
    tls: {
      kind: tls.source.kind,
      get certificate() {
        return listener.certificate!;
      },
      kept: tls.kept,
      reload: () => listener.reload(),
    },
  };
}

/** Banner lines about HTTPS (or about its absence, when cameras will not work). */
export function tlsBannerLines(tls: TlsStatus | null, host: string): string[] {
  if (!tls) {
    if (isLoopback(host)) return [];
    return [
      "  Cameras:            browsers allow them only on HTTPS pages (or localhost); start with",
      "                      --tls-self-signed or behind an HTTPS proxy (docs/configuration.md)",
    ];
  }
  const info = tls.certificate;
  const date = info.notAfter.toISOString().slice(0, 10);
  const until = info.notAfter.getTime() > Date.now()
    ? `valid until ${date}`
    : `EXPIRED on ${date}: browsers refuse it`;
  if (tls.kind === "files") {
    return [`  HTTPS:              certificate ${until}; SIGHUP reloads the files`];
  }
  const made = tls.kept?.madeBecause;
  return [
    `  HTTPS:              self-signed certificate, ${until}${made ? ` (new: ${made})` : ""}`,
    `        File:         ${tls.kept?.certPath ?? ""}`,
    `        SHA-256:      ${info.fingerprint}`,
    "                      Browsers warn once: check this fingerprint, then proceed.",
  ];
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host.startsWith("127.") || host === "::1";
}
