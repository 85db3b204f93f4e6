/**
 * The main thread's handle on a viewer that lives in a worker. It has the fields and methods
 * the HTTP layer and the API read on a ViewerSession (identity, ETag, ICE restart, consumers
 * with their layers, bandwidth estimate), filled from the worker's status reports; actions
 * (layer pins and caps, ICE restart) are posted to the worker.
 */
import { newIceCredentials } from "../session/peer-transport.ts";
import type { EndReason, SessionLifecycle } from "../session/session-base.ts";
import type { SwitchReason } from "../sfu/consumer.ts";
import type { Layer } from "../sfu/layer.ts";
import type { Producer } from "../sfu/producer.ts";
import type { ToWorker, ViewerStatus } from "./protocol.ts";

/** Posts a message to the worker that owns the viewer. */
export type WorkerPost = (message: ToWorker) => void;

/** A consumer in a worker, seen from the main thread. */
export class RemoteConsumer {
  readonly mid: string;
  readonly kind: "audio" | "video";
  readonly ssrc: number;
  /** The main thread's producer (its layers are the same SSRCs the worker sees). */
  producer: Producer;
  current: Layer | null = null;
  target: Layer | null = null;
  pinnedRid: string | null = null;
  lastSwitchReason: SwitchReason | null = null;
  packetsSent = 0;
  pinnedTemporal: number | null = null;
  /** As of the worker's latest status report (-1: all temporal layers). */
  temporalTarget = -1;
  temporalCurrent = -1;
  readonly #viewer: RemoteViewer;

  constructor(
    viewer: RemoteViewer,
    mid: string,
    kind: "audio" | "video",
    ssrc: number,
    producer: Producer,
  ) {
    this.#viewer = viewer;
    this.mid = mid;
    this.kind = kind;
    this.ssrc = ssrc;
    this.producer = producer;
  }

  /** Pins a layer by rid (null: automatic); applied in the worker. */
  pin(rid: string | null): void {
    this.pinnedRid = rid;
    this.#viewer.post({ t: "pin", id: this.#viewer.id, mid: this.mid, rid });
  }

  /** Temporal pin (null: automatic) and cap; applied in the worker. */
  setTemporal(pinned: number | null, max?: number): void {
    this.pinnedTemporal = pinned;
    this.#viewer.post({ t: "temporal", id: this.#viewer.id, mid: this.mid, pinned, max });
  }

  setCaps(maxWidth?: number, maxHeight?: number, maxSpatial?: number): void {
    this.pinnedRid = null;
    this.#viewer.post({
      t: "caps",
      id: this.#viewer.id,
      mid: this.mid,
      maxWidth,
      maxHeight,
      maxSpatial,
    });
  }

  /** Selection runs in the worker (right after a pin or caps change, and on its tick). */
  select(_nowMs?: number): void {}

  /** Applies a status row from the worker. */
  update(row: ViewerStatus["consumers"][number]): void {
    const layerOf = (ssrc: number) => this.producer.layers.find((l) => l.ssrc === ssrc) ?? null;
    this.current = row.currentSsrc >= 0 ? layerOf(row.currentSsrc) : null;
    this.target = row.targetSsrc >= 0 ? layerOf(row.targetSsrc) : null;
    this.lastSwitchReason = row.reason;
    this.packetsSent = row.packetsSent;
    this.temporalTarget = row.temporalTarget;
    this.temporalCurrent = row.temporalCurrent;
  }
}

/** A viewer session hosted by worker `worker`. */
export class RemoteViewer {
  readonly role = "viewer" as const;
  readonly id: string;
  readonly streamName: string;
  /** Index of the worker that hosts the viewer. */
  readonly worker: number;
  readonly createdAt = new Date();
  readonly createdAtMs = performance.now();
  readonly consumers: RemoteConsumer[] = [];
  etag: string;
  remoteIceUfrag: string;
  closed = false;
  endReason: EndReason | undefined;
  estimateBps = 0;
  /** The SDP answer the worker wrote. */
  answer = "";
  /** Set by the owner; the worker reports ends through it. */
  onEnd: (reason: EndReason) => void = () => {};
  readonly post: WorkerPost;
  /** ICE restart, as the HTTP layer calls it on a local session's transport. */
  readonly peer: {
    restartIce(remoteUfrag: string, remotePwd: string): { iceUfrag: string; icePwd: string };
    /** As of the worker's latest status report. */
    connected: boolean;
  };
  /** The bandwidth estimate, as the API reads it on a local session. */
  readonly bandwidth: { estimateAt(nowMs: number): number };
  /**
   * Log lines, span and setup time, kept here like a local session's; the worker relays the
   * steps it sees (ICE/DTLS up, first packet). Set by the owner.
   */
  trace: SessionLifecycle | undefined;

  constructor(
    id: string,
    streamName: string,
    worker: number,
    etag: string,
    remoteIceUfrag: string,
    post: WorkerPost,
  ) {
    this.id = id;
    this.streamName = streamName;
    this.worker = worker;
    this.etag = etag;
    this.remoteIceUfrag = remoteIceUfrag;
    this.post = post;
    this.peer = {
      connected: false,
      restartIce: (remoteUfrag, remotePwd) => {
        // Chosen here so the HTTP answer can be written now; the worker applies the same ones.
        const local = newIceCredentials();
        post({ t: "restartIce", id, remoteUfrag, remotePwd, ...local });
        return local;
      },
    };
    this.bandwidth = { estimateAt: () => this.estimateBps };
  }

  /** The viewer ended (its worker is told by the pool): as a local session's `close`. */
  ended(reason: EndReason): void {
    if (this.closed) return;
    this.closed = true;
    this.endReason = reason;
    this.trace?.end(reason === "connect_timeout" ? "ice_failed" : reason);
  }

  /** Applies the worker's status report. */
  update(status: ViewerStatus): void {
    this.estimateBps = status.estimateBps;
    this.peer.connected = status.connected;
    for (const row of status.consumers) this.consumers.find((c) => c.mid === row.mid)?.update(row);
  }

  /** The publisher was replaced: the main-thread view follows the new producers. */
  rebind(producers: Producer[]): void {
    for (const consumer of this.consumers) {
      const next = producers.find((p) => p.kind === consumer.kind);
      if (next) consumer.producer = next;
      consumer.current = null;
      consumer.target = null;
    }
  }

  /** Local state only: the worker's session is ended by the cluster. */
  tick(_nowMs: number): void {}
  expectConnectionWithin(_ms: number): void {}
}
