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
import { createLogger, type Logger } from "./observability/log.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { SessionManager } from "./session/session-manager.ts";
import { selectSrtpBackend } from "./transport/srtp-backend.ts";
import { onSendPathFallback, selectSendPath } from "./transport/send-path.ts";

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
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
  const srtp = selectSrtpBackend(config.srtp);
  // Resolved here so that "syscall" on a machine without it fails at start, not per session.
  const sendPath = selectSendPath(config.sendPath);
  onSendPathFallback((reason) =>
    logger.warn("media link sends through node:dgram, not the syscall path", { reason })
  );
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
  const abort = new AbortController();
  let port = config.port;
  const listening = Promise.withResolvers<void>();
  const httpServer = Deno.serve({
    port: config.port,
    hostname: config.host,
    signal: abort.signal,
    onListen: (addr) => {
      port = addr.port;
      listening.resolve();
    },
  }, (req, info) => {
    const remote = info.remoteAddr as Deno.NetAddr;
    addresses.set(req, remote.hostname);
    return app.fetch(req);
  });
  await listening.promise;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const url = `http://${host}:${port}`;
  logger.info("quetzal listening", {
    url,
    srtp: srtp.name,
    sendPath: sendPath.name,
    announcedIps,
    workers: manager.workerPool?.size ?? 1,
  });
  options.onListen?.(url);
  let closing: Promise<void> | undefined;
  return {
    url,
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
        abort.abort();
        await httpServer.finished;
        metrics.close();
      })();
      return closing;
    },
  };
}
