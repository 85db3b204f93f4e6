/**
 * The publish PC: the client offers, the server answers. Each published source is one sending
 * transceiver; the offer's `sources` maps its mid to the source. Negotiations run one at a
 * time. `senderConstraint` (dynacast) turns simulcast encodings on and off.
 */
import type { MaxHeight, Source } from "./wire.ts";

/** Simulcast layers, lowest first: rids q/h/f at 1/4, 1/2 and full resolution. */
export const SIMULCAST_LAYERS = [
  { rid: "q", scaleResolutionDownBy: 4 },
  { rid: "h", scaleResolutionDownBy: 2 },
  { rid: "f", scaleResolutionDownBy: 1 },
] as const;

/** How long an offer or answer waits for ICE gathering before going without the rest. */
export const GATHER_TIMEOUT_MS = 2_000;

export interface Published {
  source: Source;
  track: MediaStreamTrack;
  transceiver: RTCRtpTransceiver;
  simulcast: boolean;
  /** The SDK captured the track (so it stops it when unpublishing). */
  owned: boolean;
  muted: boolean;
  /** The last `senderConstraint` for this source; undefined: none yet (all layers on). */
  maxHeight: MaxHeight | undefined;
}

/** Sends the offer and returns the server's answer SDP. */
export type OfferSender = (sdp: string, sources: Record<string, Source>) => Promise<string>;

export class Publisher {
  readonly pc: RTCPeerConnection;
  readonly published = new Map<Source, Published>();
  #sendOffer: OfferSender;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: RTCConfiguration, sendOffer: OfferSender) {
    this.pc = new RTCPeerConnection(config);
    this.#sendOffer = sendOffer;
  }

  /** Adds `track` as `source` and negotiates; on refusal, the source is taken back out. */
  add(source: Source, track: MediaStreamTrack, simulcast: boolean, owned: boolean) {
    return this.#serial(async () => {
      const transceiver = this.#transceiverFor(track, simulcast);
      const entry: Published = {
        source,
        track,
        transceiver,
        simulcast,
        owned,
        muted: false,
        maxHeight: undefined,
      };
      this.published.set(source, entry);
      try {
        await this.#negotiate(false);
      } catch (error) {
        this.published.delete(source);
        await this.#retire(transceiver);
        throw error;
      }
      return entry;
    });
  }

  /** Stops sending `source` and negotiates without it. */
  remove(source: Source): Promise<void> {
    return this.#serial(async () => {
      const entry = this.published.get(source);
      if (!entry) return;
      this.published.delete(source);
      await this.#retire(entry.transceiver);
      if (entry.owned) entry.track.stop();
      if (this.pc.connectionState !== "closed") await this.#negotiate(false);
    });
  }

  /** A re-offer with new ICE credentials (after a network change or a failed connection). */
  restartIce(): Promise<void> {
    return this.#serial(() => this.#negotiate(true));
  }

  /**
   * Dynacast: keep the encodings up to the first whose height is at or above `maxHeight`,
   * the others `active: false`; 0 turns all off. Without simulcast, one encoding: on unless 0.
   */
  async constrain(source: Source, maxHeight: MaxHeight): Promise<void> {
    const entry = this.published.get(source);
    if (!entry) return;
    entry.maxHeight = maxHeight;
    await applyConstraint(entry);
  }

  close(): void {
    for (const entry of this.published.values()) if (entry.owned) entry.track.stop();
    this.published.clear();
    this.pc.close();
  }

  /** A stopped transceiver of the same kind and shape is reused, so m-lines do not pile up. */
  #transceiverFor(track: MediaStreamTrack, simulcast: boolean): RTCRtpTransceiver {
    const used = new Set([...this.published.values()].map((p) => p.transceiver));
    const idle = this.pc.getTransceivers().find((t) =>
      !used.has(t) && t.direction === "inactive" && t.receiver.track.kind === track.kind &&
      (t.sender.getParameters().encodings?.length ?? 1) === (simulcast ? 3 : 1)
    );
    if (idle) {
      idle.direction = "sendonly";
      idle.sender.replaceTrack(track);
      return idle;
    }
    const init: RTCRtpTransceiverInit = { direction: "sendonly", streams: [] };
    if (simulcast) init.sendEncodings = SIMULCAST_LAYERS.map((l) => ({ ...l, active: true }));
    return this.pc.addTransceiver(track, init);
  }

  async #retire(transceiver: RTCRtpTransceiver): Promise<void> {
    if (this.pc.connectionState === "closed") return;
    await transceiver.sender.replaceTrack(null);
    transceiver.direction = "inactive";
  }

  async #negotiate(iceRestart: boolean): Promise<void> {
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    await gathered(this.pc);
    const sources: Record<string, Source> = {};
    for (const entry of this.published.values()) {
      const mid = entry.transceiver.mid;
      if (mid !== null) sources[mid] = entry.source;
    }
    const sdp = this.pc.localDescription?.sdp ?? offer.sdp ?? "";
    let answer: string;
    try {
      answer = await this.#sendOffer(sdp, sources);
    } catch (error) {
      // Back to stable so the next negotiation can start; the server kept the previous state.
      if (this.pc.signalingState === "have-local-offer") {
        await this.pc.setLocalDescription({ type: "rollback" });
      }
      throw error;
    }
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
    for (const entry of this.published.values()) await applyConstraint(entry);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}

async function applyConstraint(entry: Published): Promise<void> {
  const sender = entry.transceiver.sender;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) return;
  const maxHeight = entry.maxHeight;
  const active = activeLayers(
    entry.track.getSettings().height ?? 720,
    params.encodings.map((e) => e.scaleResolutionDownBy ?? 1),
    maxHeight,
  );
  let changed = false;
  params.encodings.forEach((encoding, i) => {
    if (encoding.active !== active[i]) {
      encoding.active = active[i];
      changed = true;
    }
  });
  if (changed) await sender.setParameters(params);
}

/**
 * Which encodings to keep for a constraint: sorted by height, those up to the first at or above
 * `maxHeight` (all when none is); none for 0; all when no constraint came yet.
 *
 * @example activeLayers(720, [4, 2, 1], 360) // [true, true, false]
 */
export function activeLayers(
  trackHeight: number,
  scales: number[],
  maxHeight: MaxHeight | undefined,
): boolean[] {
  if (maxHeight === undefined) return scales.map(() => true);
  if (maxHeight === 0) return scales.map(() => false);
  const order = scales.map((scale, i) => ({ i, height: trackHeight / scale }))
    .sort((a, b) => a.height - b.height);
  const active = scales.map(() => false);
  for (const layer of order) {
    active[layer.i] = true;
    if (layer.height >= maxHeight) break;
  }
  return active;
}

/** Resolves when ICE gathering completes or after {@linkcode GATHER_TIMEOUT_MS}. */
export function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}
