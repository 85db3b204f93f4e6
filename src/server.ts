/**
 * Builds and starts a Quetzal server from a configuration: the session manager, metrics, the
 * Hono app and Deno's HTTP server. `main.ts` calls it with the command line; tests call it with
 * overrides and a free port.
 *
 * @example
 * const server = await startServer({ port: 0, publicIps: ["127.0.0.1"] });
 * await server.close();
 */
import {
  type Config,
  type ConfigInput,
  hostIpv4Addresses,
  parseConfig,
  workerCount,
} from "./config.ts";
import { createApp } from "./http/app.ts";
import { rateLimit } from "./http/rate-limit.ts";
import { resolveTls, startListener, type TlsStatus } from "./http/tls/mod.ts";
import { createLogger, type Logger } from "./observability/log.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { SessionManager } from "./session/session-manager.ts";
import { selectSrtpBackend } from "./transport/srtp-backend.ts";
import { selectSendPath } from "./transport/send-path.ts";

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 (https:// with TLS) */
  url: string;
  /** The HTTPS certificate in use; null when serving plain HTTP. */
  tls: TlsStatus | null;
  port: number;
  config: Config;
  /** The publish token in effect (generated when none was configured). */
  publishToken: string;
  manager: SessionManager;
  metrics: Metrics;
  logger: Logger;
  /** Stops accepting sessions; readiness turns false. */
  drain(): void;
  /** Ends every session and stops the HTTP server; idempotent. */
  close(): Promise<void>;
}

/** A token a person can paste into OBS: 24 random bytes, base64url. */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

export async function startServer(
  input: Partial<ConfigInput> | Config = {},
  options: { logger?: Logger; onListen?: (url: string) => void } = {},
): Promise<RunningServer> {
  const config = parseConfig({ ...input, publishToken: input.publishToken ?? generateToken() });
  const publishToken = config.publishToken!;
  const logger = options.logger ?? createLogger(config.logLevel);
  const announcedIps = config.publicIps.length > 0 ? config.publicIps : hostIpv4Addresses();
  if (announcedIps.length === 0) announcedIps.push("127.0.0.1");
  // Before anything starts: a bad certificate file stops here, naming its flag.
  const tlsConfig = await resolveTls(config, announcedIps);
  const srtp = selectSrtpBackend(config.srtp);
  // Resolved here so that "syscall" on a machine without it fails at start, not per session.
  const sendPath = selectSendPath(config.sendPath);
  const manager = new SessionManager({
    network: {
      announcedIps,
      bindIp: config.rtcBindIp,
      portRange: config.rtcPorts,
      sendPath: sendPath.name,
    },
    srtp,
    maxSessions: config.maxSessions,
    maxViewersPerStream: config.maxViewersPerStream,
    connectTimeoutMs: config.connectTimeoutMs,
    logger,
    startBitrateKbps: 2500,
    maxForwardPps: config.maxForwardPps,
    maxRssMb: config.maxRssMb,
  });
  try {
    await manager.startWorkers(workerCount(config.workers), config.srtp);
  } catch (error) {
    await manager.close();
    throw error;
  }
  const metrics = createMetrics({
    streams: () => manager.liveStreams,
    sessions: (role) => manager.count(role),
  });
  let ready = true;
  const addresses = new WeakMap<Request, string>();
  const rateLimiter = rateLimit(
    config.rateLimitPerMinute,
    (req) => addresses.get(req) ?? "unknown",
  );
  const sweep = setInterval(() => rateLimiter.sweep(performance.now()), 60_000);
  const app = await createApp({
    config: { ...config, publishToken },
    manager,
    metrics,
    logger,
    rateLimiter,
    ready: () => ready,
  });
  let served;
  try {
    served = await startListener({ hostname: config.host, port: config.port }, tlsConfig, (
      req,
      info,
    ) => {
      addresses.set(req, info.remoteAddr.hostname);
      return app.fetch(req);
    }, logger);
  } catch (error) {
    clearInterval(sweep);
    await manager.close();
    metrics.close();
    throw error;
  }
  const { listener, tls } = served;
  const port = listener.port;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const url = `${listener.scheme}://${host}:${port}`;
  logger.info("quetzal listening", {
    url,
    srtp: srtp.name,
    sendPath: sendPath.name,
    announcedIps,
    workers: manager.workerPool?.size ?? 1,
    ...(tls ? { tls: tls.kind, fingerprint: tls.certificate.fingerprint } : {}),
  });
  options.onListen?.(url);
  let closing: Promise<void> | undefined;
  return {
    url,
    tls,
    port,
    config,
    publishToken,
    manager,
    metrics,
    logger,
    drain() {
      ready = false;
    },
    close() {
      closing ??= (async () => {
        ready = false;
        clearInterval(sweep);
        await manager.close();
        await listener.close();
        metrics.close();
      })();
      return closing;
    },
  };
}
