/**
 * The subscribe PC: the server offers (`rev`), the client answers with the same `rev`. It keeps
 * what each m-line carries (`bound`) and whose voice each audio slot carries (`slots`), and
 * says which track each mid should be reported as; the room turns that into events.
 */
import { gathered } from "./publisher.ts";
import type { Source, WireBinding } from "./wire.ts";

/** What a mid carries now: a (participant, source) pair, or nothing. */
export interface Carried {
  mid: string;
  kind: "audio" | "video";
  participant: string;
  source: Source;
  track: MediaStreamTrack;
}

export type AnswerSender = (rev: number, sdp: string) => Promise<void>;

export class Subscriber {
  /** Made at the first offer: `bound` and `activeSpeakers` may come before it. */
  pc: RTCPeerConnection | null = null;
  #config: RTCConfiguration;
  #sendAnswer: AnswerSender;
  #onConnectionFailed: () => void;
  #bindings = new Map<string, WireBinding>();
  #slots = new Map<string, string | null>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: RTCConfiguration, sendAnswer: AnswerSender, onConnectionFailed: () => void) {
    this.#config = config;
    this.#sendAnswer = sendAnswer;
    this.#onConnectionFailed = onConnectionFailed;
  }

  /**
   * Applies an offer and answers it. Its `bound` list is taken at once, not after the
   * negotiation: a `bound` message that comes meanwhile is newer and must win.
   */
  offer(rev: number, sdp: string, bound: WireBinding[]): Promise<void> {
    this.bind(bound);
    const pc = this.pc ??= this.#newPc();
    return this.#serial(async () => {
      await pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await gathered(pc);
      await this.#sendAnswer(rev, pc.localDescription?.sdp ?? answer.sdp ?? "");
    });
  }

  #newPc(): RTCPeerConnection {
    const pc = new RTCPeerConnection(this.#config);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") this.#onConnectionFailed();
    });
    return pc;
  }

  /** New bindings of some m-lines (`bound` messages and offers). */
  bind(bound: WireBinding[]): void {
    for (const binding of bound) this.#bindings.set(binding.mid, binding);
  }

  /** Whose voice each audio slot carries now (`activeSpeakers.slots`). */
  setSlots(slots: Record<string, string | null>): void {
    for (const [mid, participant] of Object.entries(slots)) this.#slots.set(mid, participant);
  }

  /** Resolves once the negotiations started so far are done. */
  settled(): Promise<void> {
    return this.#queue.then(() => {});
  }

  /** What every mid carries now, for mids that exist on this PC. */
  carried(): Carried[] {
    const out: Carried[] = [];
    if (!this.pc) return out;
    const transceivers = new Map(
      this.pc.getTransceivers().filter((t) => t.mid !== null).map((t) => [t.mid as string, t]),
    );
    for (const binding of this.#bindings.values()) {
      const transceiver = transceivers.get(binding.mid);
      if (!transceiver || transceiver.currentDirection === "inactive") continue;
      let participant = binding.participant;
      let source = binding.source;
      if (binding.kind === "audio" && participant === null) {
        // An audio slot: whoever activeSpeakers says it carries now.
        participant = this.#slots.get(binding.mid) ?? null;
        source = "microphone";
      }
      if (participant === null || source === null) continue;
      out.push({
        mid: binding.mid,
        kind: binding.kind,
        participant,
        source,
        track: transceiver.receiver.track,
      });
    }
    return out;
  }

  close(): void {
    this.pc?.close();
  }

  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}
