/// <reference lib="deno.worker" />
/**
 * Entry point of a viewer worker: a ViewerHost driven by messages from the main thread (see
 * protocol.ts). Started by WorkerPool with `new Worker(url, { type: "module" })`; it
 * inherits the main thread's permissions (net for sockets, ffi for libsrtp).
 */
import { subscriberError, unreachable } from "../session/subscriber-host.ts";
import { onSendPathFallback } from "../transport/send-path-fallback.ts";
import { selectSrtpBackend } from "../transport/srtp-backend.ts";
import { openSharedPort, releaseUdpMux, type UdpMux } from "../transport/udp-mux.ts";
import { PacketRing } from "./packet-ring.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { ViewerHost } from "./viewer-host.ts";

let host: ViewerHost | undefined;
let statusTimer: ReturnType<typeof setInterval> | undefined;
/** The `--rtc-port` this worker opened, released when it closes. */
let sharedPort: number | undefined;
/**
 * Settles when "init" has finished, well or not: a "close" that arrives while the shared port
 * is still being bound (the pool closes every worker when one fails to start) waits for it, so
 * the port is released before the worker is terminated. A terminated worker's descriptors
 * outside Deno (the mux's dups) would hold the port until the process ends.
 */
const initialised = Promise.withResolvers<void>();

function post(message: FromWorker): void {
  self.postMessage(message);
}

function status(h: ViewerHost, final: boolean): void {
  post({
    t: "status",
    subscribers: final ? [] : h.snapshots(),
    counters: h.takeCounterDelta(),
    ringPackets: h.ringPackets,
    busyMs: h.busyMs,
  });
  h.ringPackets = 0;
  h.busyMs = 0;
}

/** Opens the worker's shared port (if any) and its host, then says it is ready. */
async function init(msg: Extract<ToWorker, { t: "init" }>): Promise<void> {
  const srtp = selectSrtpBackend(msg.srtp);
  const rtcPort = msg.network.rtcPort;
  let mux: UdpMux | undefined;
  if (rtcPort !== undefined) {
    try {
      mux = await openSharedPort(rtcPort, msg.network.bindIp);
      sharedPort = rtcPort;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      post({ t: "ready", index: msg.index, srtp: srtp.name, error: message });
      return;
    }
  }
  onSendPathFallback((kind, reason) => post({ t: "send-path-fallback", kind, reason }));
  const h = host = new ViewerHost({
    ring: new PacketRing(msg.ring),
    network: msg.network,
    srtp,
    connectTimeoutMs: msg.connectTimeoutMs,
    events: {
      keyframe: (trackId, ssrc) => post({ t: "keyframe", trackId, ssrc }),
      subscriber: (event) => post({ t: "subscriber", event }),
    },
  });
  statusTimer = setInterval(() => status(h, false), msg.statusIntervalMs);
  post({ t: "ready", index: msg.index, srtp: srtp.name, rtcPort: mux?.port });
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.t) {
    case "init": {
      try {
        await init(msg);
      } finally {
        initialised.resolve();
      }
      return;
    }
    case "router":
      host?.applyRouterEvent(msg.event, msg.media);
      return;
    case "create":
      try {
        if (!host) throw new Error("the worker is not initialised");
        const created = await host.create(msg.id, msg.stream, msg.offer);
        post({ t: "reply", req: msg.req, ok: true, created });
      } catch (error) {
        const { code, message } = subscriberError(error);
        post({ t: "reply", req: msg.req, ok: false, error: { code, message } });
      }
      return;
    case "command":
      host?.command(msg.id, msg.command);
      return;
    case "createRoom":
    case "answer":
      try {
        if (!host) throw new Error("the worker is not initialised");
        if (msg.t === "createRoom") await host.createRoom(msg.id, msg.spec);
        else await host.answer(msg.id, msg.rev, msg.sdp);
        post({ t: "reply", req: msg.req, ok: true });
      } catch (error) {
        const { code, message } = subscriberError(error);
        post({ t: "reply", req: msg.req, ok: false, error: { code, message } });
      }
      return;
    case "room":
      host?.roomCommand(msg.id, msg.command);
      return;
    case "end":
      await host?.end(msg.id, msg.reason);
      post({ t: "reply", req: msg.req, ok: true });
      return;
    case "sr":
      host?.senderReport(
        msg.trackId,
        msg.ssrc,
        msg.ntpSeconds,
        msg.rtpTimestamp,
        msg.arrivalEpochMs,
      );
      return;
    case "close":
      await initialised.promise;
      clearInterval(statusTimer);
      await host?.close();
      if (sharedPort !== undefined) await releaseUdpMux(sharedPort);
      sharedPort = undefined;
      // The last counts, so that totals on the main thread include everything sent.
      if (host) status(host, true);
      post({ t: "reply", req: msg.req, ok: true });
      return;
    default:
      unreachable(msg);
  }
};
