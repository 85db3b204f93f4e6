/**
 * Receive side of transport-wide congestion control: records the arrival time of every packet
 * carrying the transport-wide sequence extension and builds the feedback the sender's GCC runs
 * on (simulcast.md §4; libwebrtc `RemoteEstimatorProxy`).
 *
 * One recorder per publisher transport: the sequence spans audio, every simulcast layer, RTX
 * and padding. `record` runs per packet (no allocation: two typed-array stores);
 * `buildFeedback` runs every 100 ms from the owner's timer.
 *
 * Invariants: memory is a fixed ring of `capacity` slots; sequence numbers are unwrapped so a
 * range may cross 65535→0; gaps are reported as "not received"; a late packet already
 * reported as lost rewinds the window (bounded) so the sender learns it arrived; a delta that
 * does not fit int16 (±8.19 s) ends the packet and the next packet starts a new reference time.
 *
 * @module
 */

import {
  TWCC_DELTA_US,
  TWCC_HEADER_BYTES,
  TWCC_MAX_STATUS_COUNT,
  TWCC_REFERENCE_US,
  TwccStatus,
  twccSymbolForDelta,
  twccWorstCaseBytes,
  writeTwccFeedback,
} from "./twcc-writer.ts";

/** Options of {@link TwccRecorder}. */
export interface TwccRecorderOptions {
  /** Ring size in packets, a power of two (default 8192: 80 s at 100 pkt/s, 4 s at 2000). */
  capacity?: number;
  /** Largest feedback packet in bytes (default 1200, below a typical MTU after SRTCP). */
  maxPacketBytes?: number;
  /** How far a late packet may rewind the reported window, in packets (default 256). */
  maxRewind?: number;
}

/**
 * Records arrivals and writes transport-wide CC feedback.
 *
 * @example
 * const rec = new TwccRecorder();
 * rec.record(twccSeq, performance.now() * 1000);
 * const n = rec.buildFeedback(buf, 0, serverSsrc, mediaSsrc); // every 100 ms
 */
export class TwccRecorder {
  readonly #mask: number;
  readonly #maxPacketBytes: number;
  readonly #maxRewind: number;
  /** Arrival time in µs, by extended sequence & mask. */
  readonly #arrivalUs: Float64Array;
  /** Extended sequence stored in each slot (-1 = empty), to tell current from stale slots. */
  readonly #slotSeq: Float64Array;
  /** Scratch for one packet: statuses and deltas. */
  readonly #statuses: Uint8Array;
  readonly #deltas: Int32Array;
  /** Highest extended sequence recorded (-1 before the first packet). */
  #highest = -1;
  /** First extended sequence not yet reported. */
  #next = 0;
  #feedbackCount = 0;
  /** Reference time of the last packet, reused when a packet holds no received status. */
  #lastReference = 0;

  /** Packets recorded (duplicates excluded). */
  packetsRecorded = 0;
  /** Feedback packets written. */
  feedbackPackets = 0;

  constructor(opts: TwccRecorderOptions = {}) {
    const capacity = opts.capacity ?? 8192;
    if (capacity < 16 || (capacity & (capacity - 1)) !== 0 || capacity > 65536) {
      throw new RangeError("capacity must be a power of two between 16 and 65536");
    }
    this.#mask = capacity - 1;
    this.#maxPacketBytes = opts.maxPacketBytes ?? 1200;
    if (this.#maxPacketBytes < 64) throw new RangeError("maxPacketBytes must be at least 64");
    this.#maxRewind = Math.min(opts.maxRewind ?? 256, capacity >>> 1);
    this.#arrivalUs = new Float64Array(capacity);
    this.#slotSeq = new Float64Array(capacity).fill(-1);
    const maxStatuses = Math.min(TWCC_MAX_STATUS_COUNT, capacity);
    this.#statuses = new Uint8Array(maxStatuses);
    this.#deltas = new Int32Array(maxStatuses);
  }

  /** Packets waiting to be reported (received or not). */
  get pending(): number {
    return this.#highest < 0 ? 0 : this.#highest - this.#next + 1;
  }

  /**
   * Records one arrival. `arrivalUs` is a monotonic clock in microseconds, taken as early as
   * possible (event-loop lag reads as congestion).
   */
  record(twccSeq: number, arrivalUs: number): void {
    let ext: number;
    if (this.#highest < 0) {
      ext = 65536 + (twccSeq & 0xffff); // headroom so a reordered first packet stays ≥ 0
      this.#highest = ext;
      this.#next = ext;
    } else {
      const diff = ((twccSeq - this.#highest + 0x8000) & 0xffff) - 0x8000;
      ext = this.#highest + diff;
      if (ext < 0) return;
      if (diff > 0) {
        this.#highest = ext;
        // Bounded memory: forget what the ring can no longer hold.
        const oldest = ext - this.#mask;
        if (this.#next < oldest) this.#next = oldest;
      } else if (ext <= this.#highest - this.#mask) {
        return; // older than the ring
      }
    }
    const slot = ext & this.#mask;
    if (this.#slotSeq[slot] === ext) return; // duplicate: keep the first arrival
    this.#slotSeq[slot] = ext;
    this.#arrivalUs[slot] = arrivalUs;
    this.packetsRecorded++;
    // Already reported as lost: report it again (libwebrtc rewinds its window the same way).
    if (ext < this.#next && this.#next - ext <= this.#maxRewind) this.#next = ext;
  }

  /**
   * Writes one or more feedback packets (RTPFB PT 205 FMT 15) into `dst` at `off`, covering
   * every packet recorded since the last call, and returns the bytes written (0 if nothing is
   * pending). Packets that do not fit in `dst` stay pending for the next call.
   */
  buildFeedback(dst: Uint8Array, off: number, senderSsrc: number, mediaSsrc: number): number {
    let pos = off;
    while (this.#highest >= 0 && this.#next <= this.#highest) {
      const room = Math.min(dst.length - pos, this.#maxPacketBytes);
      if (room < TWCC_HEADER_BYTES + 8) break;
      const n = this.#writeOne(dst, pos, room, senderSsrc, mediaSsrc);
      if (n <= 0) break;
      pos += n;
    }
    return pos - off;
  }

  /** Fills the scratch with statuses from #next and writes one packet. */
  #writeOne(
    dst: Uint8Array,
    pos: number,
    room: number,
    senderSsrc: number,
    mediaSsrc: number,
  ): number {
    const statuses = this.#statuses;
    const deltas = this.#deltas;
    const maxCount = statuses.length;
    const start = this.#next;
    let count = 0;
    let deltaBytes = 0;
    let reference = this.#lastReference;
    let prevTick = 0;
    let haveReceived = false;
    for (let ext = start; ext <= this.#highest && count < maxCount; ext++) {
      const slot = ext & this.#mask;
      if (this.#slotSeq[slot] !== ext) {
        if (twccWorstCaseBytes(count + 1, deltaBytes) > room) break;
        statuses[count++] = TwccStatus.notReceived;
        continue;
      }
      const tick = Math.round(this.#arrivalUs[slot] / TWCC_DELTA_US);
      let delta: number;
      if (!haveReceived) {
        reference = Math.floor(this.#arrivalUs[slot] / TWCC_REFERENCE_US);
        prevTick = reference * (TWCC_REFERENCE_US / TWCC_DELTA_US);
        delta = tick - prevTick;
      } else {
        delta = tick - prevTick;
        // draft §3.1.5: deltas are int16; a longer gap needs a new reference time.
        if (delta < -32768 || delta > 32767) break;
      }
      const symbol = twccSymbolForDelta(delta);
      if (twccWorstCaseBytes(count + 1, deltaBytes + symbol) > room) break;
      haveReceived = true;
      statuses[count] = symbol;
      deltas[count] = delta;
      count++;
      deltaBytes += symbol;
      prevTick = tick;
    }
    if (count === 0) return 0;
    const n = writeTwccFeedback(
      dst,
      pos,
      senderSsrc,
      mediaSsrc,
      start & 0xffff,
      reference,
      this.#feedbackCount,
      statuses,
      deltas,
      count,
    );
    if (n <= 0) return 0;
    this.#feedbackCount = (this.#feedbackCount + 1) & 0xff;
    this.#lastReference = reference;
    this.#next = start + count;
    this.feedbackPackets++;
    return n;
  }
}
