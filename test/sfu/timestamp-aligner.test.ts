import { assert, assertEquals, assertLess } from "@std/assert";
import {
  alignTimestamp,
  TsAlignCode,
  TsAlignInput,
  TsAlignResult,
  TsAlignSource,
} from "../../src/sfu/timestamp-aligner.ts";

/** A layer whose RTP clock is `base + wallMs × 90` (mod 2^32); its SR can be wrong by `srErrorMs`. */
interface Layer {
  base: number;
  srErrorMs: number;
}
const tsAt = (l: Layer, wallMs: number) => (l.base + Math.round(wallMs * 90)) >>> 0;

/** Sets up a switch: output followed R (offset refOffset) up to a frame at lastWall; key on T. */
function input(
  r: Layer,
  t: Layer,
  refOffset: number,
  lastWallMs: number,
  keyWallMs: number,
  srs: boolean,
): TsAlignInput {
  const i = new TsAlignInput();
  i.keyTs = tsAt(t, keyWallMs);
  i.keyArrivalMs = keyWallMs + 20;
  i.lastOutTs = (tsAt(r, lastWallMs) + refOffset) >>> 0;
  i.lastOutArrivalMs = lastWallMs + 20;
  i.refTsOffset = refOffset;
  if (srs) {
    // SRs sent at wall 1000 ms; NTP = wall (+ error).
    i.refSrNtpMs = 1000 + r.srErrorMs;
    i.refSrRtpTs = tsAt(r, 1000);
    i.targetSrNtpMs = 1000 + t.srErrorMs;
    i.targetSrRtpTs = tsAt(t, 1000);
  }
  return i;
}

Deno.test("timestamp aligner: table", () => {
  const r: Layer = { base: 4_000_000_000, srErrorMs: 0 }; // wraps soon
  const t: Layer = { base: 123_456, srErrorMs: 0 };
  const off: Layer = { base: 777_777_777, srErrorMs: 10_000 };
  const rows = [
    {
      name: "good SRs: exactly one frame later",
      in: input(r, t, 5_000, 60_000, 60_033.333, true),
      code: TsAlignCode.ok,
      source: TsAlignSource.senderReports,
      delta: 3000,
    },
    {
      name: "no SRs: arrival difference",
      in: input(r, t, 5_000, 60_000, 60_033.333, false),
      code: TsAlignCode.ok,
      source: TsAlignSource.arrival,
      delta: 3000,
    },
    {
      name: "SRs 10 s off: sanity check falls back to arrival",
      in: input(r, off, 5_000, 60_000, 60_033.333, true),
      code: TsAlignCode.ok,
      source: TsAlignSource.arrivalAfterSanityCheck,
      delta: 3000,
    },
    {
      name: "same capture time: nudged one frame forward",
      in: input(r, t, 5_000, 60_000, 60_000, true),
      code: TsAlignCode.nudged,
      source: TsAlignSource.senderReports,
      delta: 2970,
    },
    {
      name: "30 ms behind: nudged within 75 ms",
      in: input(r, t, 0, 60_000, 59_970, true),
      code: TsAlignCode.nudged,
      source: TsAlignSource.senderReports,
      delta: 2970, // deficit 2700 + one frame
    },
  ];
  for (const row of rows) {
    const out = new TsAlignResult();
    assertEquals(alignTimestamp(row.in, out), row.code, row.name);
    assertEquals(out.source, row.source, row.name);
    assertEquals((out.outTs - row.in.lastOutTs) | 0, row.delta, row.name);
    assertEquals((row.in.keyTs + out.tsOffset) >>> 0, out.outTs, row.name);
  }
});

Deno.test("timestamp aligner: far behind asks to drop, then gives up with +1", () => {
  const r: Layer = { base: 1, srErrorMs: 0 };
  const t: Layer = { base: 2, srErrorMs: 0 };
  // The key frame is 100 ms older than the last frame sent: more than the 75 ms nudge.
  const i = input(r, t, 0, 60_000, 59_900, true);
  const out = new TsAlignResult();
  assertEquals(alignTimestamp(i, out), TsAlignCode.dropAndRequest);
  i.giveUp = true;
  assertEquals(alignTimestamp(i, out), TsAlignCode.gaveUp);
  assertEquals(out.outTs, (i.lastOutTs + 1) >>> 0);
});

Deno.test("timestamp aligner: 100 switches drift less than one frame", () => {
  let seed = 3;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  for (const srs of [true, false]) {
    const layers: Layer[] = [0, 1, 2].map(() => ({
      base: Math.floor(rand() * 2 ** 32),
      srErrorMs: srs ? rand() * 2 - 1 : 0, // ±1 ms of SR jitter
    }));
    let cur = 0;
    let offset = Math.floor(rand() * 2 ** 32); // random output base
    const frameMs = 1000 / 30;
    let frame = 100;
    const startOut = (tsAt(layers[cur], frame * frameMs) + offset) >>> 0;
    const startWall = frame * frameMs;
    let lastOut = startOut;
    const aligned = new TsAlignResult();
    for (let s = 0; s < 100; s++) {
      frame += 10 + Math.floor(rand() * 50);
      const lastWall = frame * frameMs;
      lastOut = (tsAt(layers[cur], lastWall) + offset) >>> 0;
      const next = (cur + 1 + Math.floor(rand() * 2)) % 3;
      frame += 1;
      const i = input(layers[cur], layers[next], offset, lastWall, frame * frameMs, srs);
      i.lastOutTs = lastOut;
      assert(alignTimestamp(i, aligned) >= 0);
      assertEquals(aligned.nudgeTicks, 0, "never needed a nudge");
      offset = aligned.tsOffset;
      cur = next;
      lastOut = aligned.outTs;
    }
    const wallTicks = Math.round((frame * frameMs - startWall) * 90);
    const drift = Math.abs(((lastOut - startOut) | 0) - wallTicks);
    assertLess(drift, 3000, `${srs ? "SRs" : "arrival"}: drift ${drift} ticks`);
  }
});
