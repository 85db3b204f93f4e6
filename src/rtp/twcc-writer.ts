/**
 * Serialises one transport-wide congestion control feedback packet (RTPFB, PT 205, FMT 15).
 *
 * Format: draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1. The caller (TwccRecorder)
 * decides which packets go into one feedback and hands over their statuses and 250 µs
 * deltas; this module only lays out bytes. It never allocates.
 *
 * Invariants: the packet length is a multiple of 4 (zero padding, P bit set, last byte =
 * number of padding bytes, as libwebrtc's `TransportFeedback::Create` does). werift's own
 * serializer omits the padding and its feedback is dropped as malformed (simulcast.md §4).
 *
 * @module
 */

/** Packet status symbols (draft §3.1.1). */
export const TwccStatus = {
  /** Packet not received. */
  notReceived: 0,
  /** Received, delta fits one unsigned byte (0..63.75 ms). */
  smallDelta: 1,
  /** Received, delta is a signed 16-bit value. */
  largeDelta: 2,
} as const;

/** RTCP payload type of transport-layer feedback (RFC 4585 §6.1). */
export const RTPFB_PT = 205;
/** Feedback message type of transport-wide CC. */
export const TWCC_FMT = 15;
/** Fixed part: RTCP header, two SSRCs, base seq, count, reference time, feedback count. */
export const TWCC_HEADER_BYTES = 20;
/** Delta unit in microseconds. */
export const TWCC_DELTA_US = 250;
/** Reference time unit in microseconds (64 ms). */
export const TWCC_REFERENCE_US = 64_000;
/** Longest run a run-length chunk can carry (13 bits). */
export const TWCC_MAX_RUN = 8191;
/** Most statuses one feedback packet can announce (16-bit status count). */
export const TWCC_MAX_STATUS_COUNT = 0xffff;

/** Status symbol for a delta, in 250 µs ticks. */
export function twccSymbolForDelta(deltaTicks: number): number {
  return deltaTicks >= 0 && deltaTicks <= 255 ? TwccStatus.smallDelta : TwccStatus.largeDelta;
}

/**
 * Upper bound of the bytes a feedback with `count` statuses and `deltaBytes` bytes of deltas
 * needs: every 7 statuses fit one 2-byte chunk whatever they are, plus at most 3 padding bytes.
 */
export function twccWorstCaseBytes(count: number, deltaBytes: number): number {
  return TWCC_HEADER_BYTES + 2 * Math.ceil(count / 7) + deltaBytes + 3;
}

/**
 * Writes one feedback packet into `dst` at `off`.
 *
 * `statuses[i]` is a {@link TwccStatus} for sequence `baseSeq + i`; `deltaTicks[i]` is the
 * receive delta of a received packet in 250 µs ticks (ignored for not received). A small
 * delta must be 0..255, a large one −32768..32767: the caller splits packets so that holds.
 *
 * @returns bytes written, or -1 if `dst` is too small or an argument is out of range.
 * @example const n = writeTwccFeedback(buf, 0, 1, 2, 100, 7, 0, statuses, deltas, 10);
 */
export function writeTwccFeedback(
  dst: Uint8Array,
  off: number,
  senderSsrc: number,
  mediaSsrc: number,
  baseSeq: number,
  referenceTime64ms: number,
  feedbackCount: number,
  statuses: Uint8Array,
  deltaTicks: Int32Array,
  count: number,
): number {
  if (count < 1 || count > TWCC_MAX_STATUS_COUNT) return -1;
  let deltaBytes = 0;
  for (let i = 0; i < count; i++) deltaBytes += statuses[i];
  if (dst.length - off < twccWorstCaseBytes(count, deltaBytes)) return -1;

  let p = off + 4;
  p = writeU32(dst, p, senderSsrc);
  p = writeU32(dst, p, mediaSsrc);
  dst[p++] = (baseSeq >>> 8) & 0xff;
  dst[p++] = baseSeq & 0xff;
  dst[p++] = (count >>> 8) & 0xff;
  dst[p++] = count & 0xff;
  const ref = referenceTime64ms & 0xffffff;
  dst[p++] = ref >>> 16;
  dst[p++] = (ref >>> 8) & 0xff;
  dst[p++] = ref & 0xff;
  dst[p++] = feedbackCount & 0xff;

  p = writeChunks(dst, p, statuses, count);

  for (let i = 0; i < count; i++) {
    const s = statuses[i];
    if (s === TwccStatus.smallDelta) {
      dst[p++] = deltaTicks[i] & 0xff;
    } else if (s === TwccStatus.largeDelta) {
      const d = deltaTicks[i] & 0xffff;
      dst[p++] = d >>> 8;
      dst[p++] = d & 0xff;
    }
  }

  let total = p - off;
  const pad = (4 - (total & 3)) & 3;
  if (pad > 0) {
    for (let i = 0; i < pad - 1; i++) dst[p++] = 0;
    dst[p++] = pad;
    total += pad;
  }
  dst[off] = 0x80 | (pad > 0 ? 0x20 : 0) | TWCC_FMT;
  dst[off + 1] = RTPFB_PT;
  const words = (total >>> 2) - 1;
  dst[off + 2] = words >>> 8;
  dst[off + 3] = words & 0xff;
  return total;
}

/**
 * Packet status chunks (draft §3.1.3, §3.1.4). Greedy: a run of 14 or more equal symbols is a
 * run-length chunk; otherwise 14 one-bit symbols when none needs a large delta, else a run of
 * 7 or more, else 7 two-bit symbols. The last vector may be padded with "not received"
 * symbols past the status count, which receivers ignore (libwebrtc does the same).
 */
function writeChunks(dst: Uint8Array, p: number, statuses: Uint8Array, count: number): number {
  let i = 0;
  while (i < count) {
    const s = statuses[i];
    let run = 1;
    while (i + run < count && statuses[i + run] === s && run < TWCC_MAX_RUN) run++;
    if (run >= 14) {
      p = writeRunLength(dst, p, s, run);
      i += run;
      continue;
    }
    const n14 = count - i < 14 ? count - i : 14;
    let hasLarge = false;
    for (let k = 0; k < n14; k++) {
      if (statuses[i + k] === TwccStatus.largeDelta) {
        hasLarge = true;
        break;
      }
    }
    if (!hasLarge) {
      // T=1, S=0, 14 one-bit symbols.
      let v = 0x8000;
      for (let k = 0; k < n14; k++) if (statuses[i + k] !== 0) v |= 1 << (13 - k);
      dst[p++] = v >>> 8;
      dst[p++] = v & 0xff;
      i += n14;
      continue;
    }
    if (run >= 7) {
      p = writeRunLength(dst, p, s, run);
      i += run;
      continue;
    }
    // T=1, S=1, 7 two-bit symbols.
    const n7 = count - i < 7 ? count - i : 7;
    let v = 0xc000;
    for (let k = 0; k < n7; k++) v |= statuses[i + k] << (12 - 2 * k);
    dst[p++] = v >>> 8;
    dst[p++] = v & 0xff;
    i += n7;
  }
  return p;
}

function writeRunLength(dst: Uint8Array, p: number, symbol: number, run: number): number {
  // T=0, 2-bit symbol, 13-bit run length.
  const v = (symbol << 13) | run;
  dst[p++] = v >>> 8;
  dst[p++] = v & 0xff;
  return p;
}

function writeU32(dst: Uint8Array, p: number, v: number): number {
  dst[p++] = (v >>> 24) & 0xff;
  dst[p++] = (v >>> 16) & 0xff;
  dst[p++] = (v >>> 8) & 0xff;
  dst[p++] = v & 0xff;
  return p;
}
