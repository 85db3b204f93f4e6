/// <reference lib="deno.worker" />
/**
 * Entry point of a viewer worker: a ViewerHost driven by messages from the main thread (see
 * protocol.ts). Started by WorkerPool with `new Worker(url, { type: "module" })`; it
 * inherits the main thread's permissions (net for sockets, ffi for libsrtp).
 */
import { onSendPathFallback } from "../transport/send-path.ts";
import { selectSrtpBackend } from "../transport/srtp-backend.ts";
import { PacketRing } from "./packet-ring.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { ViewerHost } from "./viewer-host.ts";

let host: ViewerHost | undefined;
let statusTimer: ReturnType<typeof setInterval> | undefined;

function post(message: FromWorker): void {
  self.postMessage(message);
}

function errorOf(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: "Error", message: String(error) };
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.t) {
    case "init": {
      const srtp = selectSrtpBackend(msg.srtp);
      onSendPathFallback((reason) => post({ t: "send-path-fallback", reason }));
      host = new ViewerHost({
        ring: new PacketRing(msg.ring),
        network: msg.network,
        srtp,
        connectTimeoutMs: msg.connectTimeoutMs,
        events: {
          keyframe: (trackId, ssrc) => post({ t: "keyframe", trackId, ssrc }),
          ended: (id, reason) => post({ t: "ended", id, reason }),
          session: (id, event) => post({ t: "session", id, event }),
        },
      });
      const h = host;
      statusTimer = setInterval(() => {
        post({
          t: "status",
          viewers: h.viewerStatus(),
          counters: h.takeCounterDelta(),
          ringPackets: h.ringPackets,
          busyMs: h.busyMs,
        });
        h.ringPackets = 0;
        h.busyMs = 0;
      }, msg.statusIntervalMs);
      post({ t: "ready", index: msg.index, srtp: srtp.name });
      return;
    }
    case "stream":
      host?.setStream(msg.name, msg.tracks);
      return;
    case "unstream":
      host?.clearStream(msg.name, msg.trackIds);
      return;
    case "play":
      try {
        if (!host) throw new Error("the worker is not initialised");
        const result = await host.play(msg.id, msg.name, msg.offer);
        post({ t: "reply", req: msg.req, ok: true, result });
      } catch (error) {
        post({ t: "reply", req: msg.req, ok: false, error: errorOf(error) });
      }
      return;
    case "end":
      await host?.end(msg.id, msg.reason);
      post({ t: "reply", req: msg.req, ok: true });
      return;
    case "restartIce":
      host?.restartIce(msg.id, msg.remoteUfrag, msg.remotePwd, {
        iceUfrag: msg.iceUfrag,
        icePwd: msg.icePwd,
      });
      return;
    case "pin":
      host?.pin(msg.id, msg.mid, msg.rid);
      return;
    case "temporal":
      host?.temporal(msg.id, msg.mid, msg.pinned, msg.max);
      return;
    case "caps":
      host?.caps(msg.id, msg.mid, msg.maxWidth, msg.maxHeight, msg.maxSpatial);
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
      clearInterval(statusTimer);
      await host?.close();
      // The last counts, so that totals on the main thread include everything sent.
      if (host) {
        post({
          t: "status",
          viewers: [],
          counters: host.takeCounterDelta(),
          ringPackets: host.ringPackets,
          busyMs: host.busyMs,
        });
      }
      post({ t: "reply", req: msg.req, ok: true });
      return;
  }
};
