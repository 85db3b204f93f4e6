/**
 * Builds and starts a Quetzal server from a validated configuration: the session manager,
 * metrics, the Hono app and Deno's HTTP server. `main.ts` passes what `loadConfig` read from the
 * command line; tests pass `configFrom({ port: 0, ... })`.
 *
 * @example
 * const server = await startServer(configFrom({ port: 0, publicIps: ["127.0.0.1"] }));
 * await server.close();
 */
import { type Config, hostIpv4Addresses, workerCount } from "./config.ts";
import { createApp } from "./http/app.ts";
import { addressMatcher, clientAddress } from "./http/client-address.ts";
import { rateLimit } from "./http/rate-limit.ts";
import { resolveTls, startListener, type TlsStatus } from "./http/tls/mod.ts";
import { createLogger, type Logger } from "./observability/log.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { SessionManager } from "./session/session-manager.ts";
import { generateRoomSecret, RoomRegistry, RoomTokens } from "./room/mod.ts";
import { RoomMedia, RoomSignalling } from "./signal/mod.ts";
import { selectSrtpBackend } from "./transport/srtp-backend.ts";
import { LibsrtpBackend } from "./transport/srtp-libsrtp.ts";
import { selectSendPath } from "./transport/send-path.ts";
import { openSharedPort, releaseUdpMux } from "./transport/udp-mux.ts";
import { FALLBACK_MESSAGES, onSendPathFallback } from "./transport/send-path-fallback.ts";
import { WorkerPool } from "./workers/worker-pool.ts";

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
  /** The viewer workers (`--workers` ≥ 2); without them viewers run on the main thread. */
  workers: WorkerPool | undefined;
  /** The rooms (group calls) of this server. */
  rooms: RoomRegistry;
  /** Signs and verifies room tokens. */
  roomTokens: RoomTokens;
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

/**
 * Starts a server from a Config that has been validated once (`loadConfig`, `configFrom`). It is
 * not validated again: parsed values (a port range is a pair of numbers) no longer match the
 * input schema. Only the publish token is filled in when unset.
 */
export async function startServer(
  parsed: Config,
  options: { logger?: Logger; onListen?: (url: string) => void } = {},
): Promise<RunningServer> {
  const publishToken = parsed.publishToken ?? generateToken();
  const config: Config = { ...parsed, publishToken };
  const logger = options.logger ?? createLogger(config.logLevel);
  const announcedIps = config.publicIps.length > 0 ? config.publicIps : hostIpv4Addresses();
  if (announcedIps.length === 0) announcedIps.push("127.0.0.1");
  // Before anything starts: a bad certificate file stops here, naming its flag.
  const tlsConfig = await resolveTls(config, announcedIps);
  const srtp = selectSrtpBackend(config.srtp);
  // Resolved here so that "syscall" on a machine without it fails at start, not per session.
  const sendPath = selectSendPath(config.sendPath);
  onSendPathFallback((kind, reason) => logger.warn(FALLBACK_MESSAGES[kind], { reason }));
  if (config.rtcPort !== undefined && config.rtcPorts !== undefined) {
    // The Docker image sets a range; an operator who adds a shared port means the port.
    logger.info("--rtc-ports is not used: --rtc-port puts every session on one port per thread", {
      rtcPort: config.rtcPort,
    });
  }
  const network = {
    announcedIps,
    bindIp: config.rtcBindIp,
    portRange: config.rtcPort === undefined ? config.rtcPorts : undefined,
    rtcPort: config.rtcPort,
    sendPath: sendPath.name,
  };
  // The main thread's shared port (publishers); each worker opens its own (worker-pool.ts).
  const mainPort = config.rtcPort === undefined
    ? undefined
    : await openSharedPort(config.rtcPort, config.rtcBindIp);
  const releasePort = () =>
    config.rtcPort === undefined ? undefined : releaseUdpMux(config.rtcPort);
  // Viewers go to worker threads (count ≥ 2; 0 or 1 keeps everything on this thread).
  // Publishers stay here; see src/workers/worker-pool.ts.
  const workerThreads = workerCount(config.workers);
  let workers: WorkerPool | undefined;
  try {
    workers = workerThreads >= 2
      ? await WorkerPool.start({
        workers: workerThreads,
        network,
        srtp: config.srtp,
        connectTimeoutMs: config.connectTimeoutMs,
        logger,
      })
      : undefined;
  } catch (error) {
    await releasePort();
    throw error;
  }
  const manager = new SessionManager({
    network,
    srtp,
    maxSessions: config.maxSessions,
    maxViewersPerStream: config.maxViewersPerStream,
    connectTimeoutMs: config.connectTimeoutMs,
    logger,
    startBitrateKbps: 2500,
    maxForwardPps: config.maxForwardPps,
    maxRssMb: config.maxRssMb,
    subscribers: workers,
  });
  const addresses = new WeakMap<Request, string>();
  const trustedProxy = addressMatcher(config.trustedProxies);
  const rateLimiter = rateLimit({
    joinsPerMinute: config.rateLimitJoins,
    failuresPerMinute: config.rateLimitFailures,
    clientAddress: (req) => addresses.get(req) ?? "unknown",
    isSession: (kind, stream, id) => {
      const session = manager.get(id);
      return session !== undefined && session.streamName === stream &&
        session.role === (kind === "whip" ? "publisher" : "viewer");
    },
  });
  const roomTokens = await RoomTokens.create([config.roomSecret ?? generateRoomSecret()]);
  if (config.roomSecret === undefined) {
    logger.info("room secret generated: room links stop working when this process ends", {
      setting: "--room-secret / QUETZAL_ROOM_SECRET",
    });
  }
  const rooms = new RoomRegistry({ maxRooms: config.maxRooms });
  /** The media half of every room with one (for the room track gauges and the API). */
  const roomMedia = new Set<RoomMedia>();
  const mediaOf = new Map<string, RoomMedia>();
  const signalling = new RoomSignalling({
    rooms,
    tokens: roomTokens,
    maxSdpBytes: config.maxSdpBytes,
    media: (room, hub) => {
      const media = new RoomMedia(room, hub, {
        manager,
        onError: (error, about) =>
          logger.error("room media failed", { about, error: String(error) }),
      });
      roomMedia.add(media);
      mediaOf.set(room.id, media);
      room.observe({
        ended: () => {
          roomMedia.delete(media);
          mediaOf.delete(room.id);
        },
      });
      return media;
    },
    onError: (error, about) =>
      logger.error("signalling failed", {
        about,
        error: error instanceof Error ? error.stack ?? error.message : String(error),
      }),
  });
  const metrics = createMetrics({
    streams: () => manager.liveStreams,
    sessions: (role) => manager.count(role),
    rateLimited: (bucket) => rateLimiter.refused[bucket],
    rooms: () => rooms.size,
    participants: (role) => rooms.participants(role),
    roomTracks: () => {
      const publications = { camera: 0, microphone: 0, screen: 0, screenAudio: 0 };
      const subscriptions = { ...publications };
      for (const media of roomMedia) {
        media.countPublications(publications);
        media.countSubscriptions(subscriptions);
      }
      return { publications, subscriptions };
    },
  });
  let ready = true;
  const app = await createApp({
    config,
    manager,
    metrics,
    logger,
    rateLimiter,
    ready: () => ready,
    rooms: {
      registry: rooms,
      tokens: roomTokens,
      signalling,
      tracksOf: (id) => mediaOf.get(id)?.router.snapshot().producers ?? [],
    },
  });
  let served;
  try {
    served = await startListener({ hostname: config.host, port: config.port }, tlsConfig, (
      req,
      info,
    ) => {
      // X-Forwarded-For is read only when the peer is a configured proxy (--trusted-proxy).
      const forwarded = req.headers.get("X-Forwarded-For");
      addresses.set(req, clientAddress(info.remoteAddr.hostname, forwarded, trustedProxy));
      return app.fetch(req);
    }, logger);
  } catch (error) {
    rooms.close();
    signalling.close();
    await manager.close();
    await releasePort();
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
    // Who seals outbound GCM RTP (srtp-gnutls-seal.ts), and why not GnuTLS when it is not.
    ...(srtp instanceof LibsrtpBackend
      ? {
        srtpSeal: srtp.rtpSeal,
        ...(srtp.rtpSealReason ? { srtpSealReason: srtp.rtpSealReason } : {}),
      }
      : {}),
    sendPath: sendPath.name,
    ...(mainPort ? { rtcPort: [mainPort.port, ...(workers?.rtcPorts ?? [])] } : {}),
    announcedIps,
    workers: workers?.size ?? 1,
    ...(tls ? { tls: tls.kind, fingerprint: tls.certificate.fingerprint } : {}),
  });
  options.onListen?.(url);
  // Started once listening, so a failed start leaves no timer. A bucket refills within a minute
  // (longer after a burst of failures): an idle address is forgotten within about two.
  const sweep = setInterval(() => rateLimiter.sweep(performance.now()), 60_000);
  let closing: Promise<void> | undefined;
  return {
    url,
    tls,
    port,
    config,
    publishToken,
    manager,
    workers,
    rooms,
    roomTokens,
    metrics,
    logger,
    drain() {
      ready = false;
    },
    close() {
      closing ??= (async () => {
        ready = false;
        clearInterval(sweep);
        rooms.close();
        signalling.close();
        await manager.close();
        await releasePort();
        await listener.close();
        metrics.close();
      })();
      return closing;
    },
  };
}
