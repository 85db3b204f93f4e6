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
  readonly pc: RTCPeerConnection;
  #sendAnswer: AnswerSender;
  #bindings = new Map<string, WireBinding>();
  #slots = new Map<string, string | null>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: RTCConfiguration, sendAnswer: AnswerSender) {
    this.pc = new RTCPeerConnection(config);
    this.#sendAnswer = sendAnswer;
  }

  /** Applies an offer and answers it; `bound` describes its m-lines. */
  offer(rev: number, sdp: string, bound: WireBinding[]): Promise<void> {
    return this.#serial(async () => {
      await this.pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      await gathered(this.pc);
      this.bind(bound);
      await this.#sendAnswer(rev, this.pc.localDescription?.sdp ?? answer.sdp ?? "");
    });
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
    this.pc.close();
  }

  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}
