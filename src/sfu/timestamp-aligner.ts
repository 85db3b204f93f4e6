/**
 * RTP timestamp offset for a switch to a key frame of layer T while the output so far followed
 * reference layer R (simulcast.md §2.3). Pure numbers in, numbers out.
 *
 * 1. Sender reports for R and T: the key frame's timestamp in R's base is
 *    `ts_k + (rtp_R − rtp_T) + (ntp_T − ntp_R)·clock`, plus R's offset (LiveKit
 *    `getRefLayerRTPTimestamp`, mediasoup).
 * 2. No SRs yet: `lastOutTs + (arrival_k − arrival_lastOut)·clock` (Janus, ion-sfu); a switch is
 *    never refused for lack of SRs.
 * 3. Sanity: an SR result more than 150 ms from the arrival result is discarded for the
 *    arrival one (publisher clock steps, bogus SRs) [Quetzal recommendation].
 * 4. Never backwards: a result ≤ the last output timestamp gets one frame more than the
 *    deficit, up to 75 ms (mediasoup `MaxExtraOffsetMs`); beyond that the caller drops the key
 *    frame and requests another, and after that gives up with `lastOutTs + 1`.
 *
 * Runs once per switch; the caller owns both objects.
 *
 * @module
 */

/** Outcome of {@link alignTimestamp}. */
export const TsAlignCode = {
  /** `outTs`/`tsOffset` are valid. */
  ok: 0,
  /** Valid, but a forward nudge was added so time does not go backwards. */
  nudged: 1,
  /** Valid: the caller gave up and continues at `lastOutTs + 1`. */
  gaveUp: 2,
  /** Too far behind: drop this key frame, request another, retry (or give up). */
  dropAndRequest: -1,
} as const;

/** Where the result came from. */
export const TsAlignSource = { senderReports: 0, arrival: 1, arrivalAfterSanityCheck: 2 } as const;

/** Inputs of {@link alignTimestamp}. Reuse one instance; NaN NTP = no SR for that layer. */
export class TsAlignInput {
  clockRate = 90_000;
  /** RTP timestamp of the key frame on the target layer. */
  keyTs = 0;
  /** Arrival (monotonic ms) of the key frame's first packet. */
  keyArrivalMs = 0;
  /** Last timestamp sent on the output. */
  lastOutTs = 0;
  /** Arrival (ms) of the packet that carried `lastOutTs`. */
  lastOutArrivalMs = 0;
  /** The reference layer's current offset: out = in + offset (mod 2^32). */
  refTsOffset = 0;
  /** Latest SR of the reference layer: NTP time in ms (NaN if none) and its RTP timestamp. */
  refSrNtpMs = NaN;
  refSrRtpTs = 0;
  /** Latest SR of the target layer. */
  targetSrNtpMs = NaN;
  targetSrRtpTs = 0;
  /** One frame in ticks for the forward nudge (mediasoup: 2970 at 90 kHz). */
  frameTicks = 2970;
  /** Largest forward nudge (default 75 ms). */
  maxNudgeMs = 75;
  /** SR result may differ from the arrival result by this much (default 150 ms). */
  sanityMs = 150;
  /** Retries are exhausted: accept `lastOutTs + 1` instead of asking to drop. */
  giveUp = false;
}

/** Result of {@link alignTimestamp}. */
export class TsAlignResult {
  code: number = TsAlignCode.ok;
  source: number = TsAlignSource.arrival;
  /** Output timestamp of the key frame. */
  outTs = 0;
  /** New offset for the target layer: out = in + tsOffset (mod 2^32). */
  tsOffset = 0;
  /** Ticks added to avoid going backwards. */
  nudgeTicks = 0;
}

/** Signed a − b in 32-bit timestamp space. */
function diff32(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Computes the output timestamp and offset for a switch.
 *
 * @returns `out.code` ({@link TsAlignCode}).
 * @example
 * in_.keyTs = ts; in_.keyArrivalMs = now; in_.lastOutTs = munger.lastTs; ...
 * if (alignTimestamp(in_, out) >= 0) munger.tsOffset = out.tsOffset;
 */
export function alignTimestamp(input: TsAlignInput, out: TsAlignResult): number {
  const ticksPerMs = input.clockRate / 1000;
  const arrivalTs =
    (input.lastOutTs + Math.round((input.keyArrivalMs - input.lastOutArrivalMs) * ticksPerMs)) >>>
    0;
  let ts = arrivalTs;
  out.source = TsAlignSource.arrival;
  if (!Number.isNaN(input.refSrNtpMs) && !Number.isNaN(input.targetSrNtpMs)) {
    const inRefBase = input.keyTs + diff32(input.refSrRtpTs, input.targetSrRtpTs) +
      Math.round((input.targetSrNtpMs - input.refSrNtpMs) * ticksPerMs);
    const srTs = (inRefBase + input.refTsOffset) >>> 0;
    if (Math.abs(diff32(srTs, arrivalTs)) <= input.sanityMs * ticksPerMs) {
      ts = srTs;
      out.source = TsAlignSource.senderReports;
    } else {
      out.source = TsAlignSource.arrivalAfterSanityCheck;
    }
  }

  out.nudgeTicks = 0;
  out.code = TsAlignCode.ok;
  const behind = diff32(ts, input.lastOutTs);
  if (behind <= 0) {
    const nudge = -behind + input.frameTicks;
    if (nudge <= input.maxNudgeMs * ticksPerMs) {
      ts = (ts + nudge) >>> 0;
      out.nudgeTicks = nudge;
      out.code = TsAlignCode.nudged;
    } else if (input.giveUp) {
      ts = (input.lastOutTs + 1) >>> 0;
      out.code = TsAlignCode.gaveUp;
    } else {
      out.code = TsAlignCode.dropAndRequest;
      return out.code;
    }
  }
  out.outTs = ts;
  out.tsOffset = (ts - input.keyTs) >>> 0;
  return out.code;
}
