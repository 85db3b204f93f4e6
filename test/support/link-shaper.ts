/**
 * A constrained network link simulated in process, for integration tests: a UDP relay on
 * 127.0.0.1 between a werift viewer and the server that passes the viewer's datagrams on as
 * they are and shapes the server's towards the viewer with a token bucket, as `tc tbf` on a
 * veth would (no root, no network namespace).
 *
 * The viewer is pointed at the relay by rewriting the server's host candidate in the answer
 * ({@link LinkShaper.rewriteAnswer}); the relay forwards from its own socket, so the server
 * (ICE-lite) sees the relay's address as a peer-reflexive remote and answers there. Every
 * datagram is shaped alike (STUN, DTLS, SRTP, SRTCP), as on a real link.
 *
 * The bucket: `rateBps` refills it, at most `burstBytes` deep; a datagram leaves when the
 * bucket holds its size, else it waits in a FIFO bounded by `queueMs` of the rate (the
 * queueing delay a router buffer adds), beyond which it is dropped (tail drop).
 */
import dgram from "node:dgram";

/** Limits of a constrained link; see {@link LinkShaper.limit}. */
export interface LinkLimit {
  /** Rate in bit/s. */
  rateBps: number;
  /** Longest queueing delay before tail drop, ms (default 200). */
  queueMs?: number;
  /** Bucket depth in bytes (default: 5 ms of the rate, at least two full datagrams). */
  burstBytes?: number;
}

/** Counters of the shaped direction (server → viewer). */
export interface ShaperStats {
  forwarded: number;
  forwardedBytes: number;
  dropped: number;
  /** Longest time a datagram waited in the queue, ms. */
  maxQueueDelayMs: number;
}

export interface LinkShaper {
  /** The relay's port on 127.0.0.1 (where the viewer now sends). */
  readonly port: number;
  readonly stats: ShaperStats;
  /**
   * Points the server's host candidate in a WHEP answer at the relay and remembers the
   * server's address. Call before `setRemoteDescription` on the viewer.
   */
  rewriteAnswer(sdp: string): string;
  /** Shapes server → viewer from now on; the queue keeps what it holds. */
  limit(limit: LinkLimit): void;
  /** Unlimited from now on; queued datagrams leave at once. */
  unlimit(): void;
  close(): Promise<void>;
}

interface Queued {
  data: Uint8Array;
  enqueuedMs: number;
}

const MTU = 1500;

export async function startLinkShaper(): Promise<LinkShaper> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  let server: { address: string; port: number } | null = null;
  let viewer: { address: string; port: number } | null = null;
  const stats: ShaperStats = { forwarded: 0, forwardedBytes: 0, dropped: 0, maxQueueDelayMs: 0 };

  let rateBps = Infinity;
  let burstBytes = 0;
  let queueLimitBytes = 0;
  let tokens = 0;
  let refilledMs = 0;
  const queue: Queued[] = [];
  let queuedBytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const toViewer = (data: Uint8Array) => {
    if (!viewer || closed) return;
    stats.forwarded++;
    stats.forwardedBytes += data.length;
    socket.send(data, viewer.port, viewer.address);
  };

  const refill = (nowMs: number) => {
    tokens = Math.min(burstBytes, tokens + (nowMs - refilledMs) * rateBps / 8000);
    refilledMs = nowMs;
  };

  const drain = () => {
    timer = undefined;
    const now = performance.now();
    refill(now);
    while (queue.length > 0 && (queue[0].data.length <= tokens || rateBps === Infinity)) {
      const head = queue.shift()!;
      queuedBytes -= head.data.length;
      tokens -= head.data.length;
      const waited = now - head.enqueuedMs;
      if (waited > stats.maxQueueDelayMs) stats.maxQueueDelayMs = waited;
      toViewer(head.data);
    }
    if (queue.length > 0 && !closed) {
      const waitMs = (queue[0].data.length - tokens) * 8000 / rateBps;
      timer = setTimeout(drain, Math.max(1, Math.ceil(waitMs)));
    }
  };

  const shape = (data: Uint8Array) => {
    if (rateBps === Infinity && queue.length === 0) return toViewer(data);
    if (queuedBytes + data.length > queueLimitBytes) {
      stats.dropped++;
      return;
    }
    queue.push({ data, enqueuedMs: performance.now() });
    queuedBytes += data.length;
    if (timer === undefined) drain();
  };

  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    if (closed || !server) return;
    if (rinfo.address === server.address && rinfo.port === server.port) {
      shape(msg);
    } else {
      viewer = { address: rinfo.address, port: rinfo.port };
      socket.send(msg, server.port, server.address);
    }
  });

  return {
    port,
    stats,
    rewriteAnswer(sdp: string): string {
      // RFC 8839 §5.1: foundation, component, transport, priority, address, port, "typ".
      const out = sdp.replace(
        /^(a=candidate:\S+ \d+ udp \d+ )(127\.0\.0\.1) (\d+)( typ host)/gim,
        (_all, head: string, address: string, p: string, tail: string) => {
          server = { address, port: Number(p) };
          return `${head}127.0.0.1 ${port}${tail}`;
        },
      );
      if (!server) throw new Error("the answer has no 127.0.0.1 host candidate");
      return out;
    },
    limit(l: LinkLimit): void {
      const now = performance.now();
      if (rateBps !== Infinity) refill(now);
      rateBps = l.rateBps;
      burstBytes = l.burstBytes ?? Math.max(2 * MTU, Math.round(rateBps * 0.005 / 8));
      queueLimitBytes = Math.max(MTU, Math.round(rateBps * (l.queueMs ?? 200) / 8000));
      tokens = Math.min(tokens, burstBytes);
      refilledMs = now;
    },
    unlimit(): void {
      rateBps = Infinity;
      if (timer !== undefined) clearTimeout(timer);
      drain();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      queue.length = 0;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
