/**
 * PauseRecovery: probes for the video a subscriber's split paused, on real consumers fed
 * synthetic frames (no sockets).
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { Consumer } from "../../src/sfu/consumer.ts";
import { PauseRecovery } from "../../src/sfu/pause-recovery.ts";
import { ProbeState } from "../../src/sfu/prober.ts";
import { ascii, buildPacket, vp8 } from "../support/packets.ts";
import {
  forwardingRig,
  type MemoryLink,
  PUBLISHER_MID_RID,
  VIEWER_MID_TWCC,
} from "../support/forwarding-rig.ts";

const publisherMap = PUBLISHER_MID_RID;
const viewerMap = VIEWER_MID_TWCC;

/** A camera (one simulcast layer "q", 30 frames/s) and its consumer on its own link. */
function camera(ssrc: number) {
  const rig = forwardingRig({ codecName: "vp8", rids: ["q"], publisherMap, viewerMap });
  let n = 0;
  const frame = (nowMs: number) => {
    const bytes = buildPacket({
      seq: 1000 + n,
      ts: n * 3000,
      ssrc,
      marker: true,
      extensions: [[2, ascii("q")]],
      payload: vp8(n % 30 === 0),
    });
    rig.push(bytes, nowMs);
    n++;
  };
  return { ...rig, frame };
}

/** Two cameras forwarded for 3 s (the layer tracker has a mean bitrate), then both paused by the split (a share of 0). */
function pausedPair() {
  const cams = [camera(10), camera(20)];
  let now = 0;
  for (; now < 3000; now += 33) {
    for (const c of cams) {
      c.frame(now);
      c.producer.tick(now);
      c.consumer.select(now, 2_000_000, 0, true);
    }
  }
  for (const c of cams) {
    c.consumer.select(now, 0, 0, true);
    assert(c.consumer.paused);
  }
  const video: Consumer[] = cams.map((c) => c.consumer);
  return { cams, video, now };
}

const padding = (link: MemoryLink) => link.probes.filter(Boolean).length;

Deno.test("pause recovery: a paused wanted camera carries a probe whose padding is paced from the tick", () => {
  const { cams, video, now: t0 } = pausedPair();
  const recovery = new PauseRecovery();
  const shares = new Float64Array([0, 0]);
  recovery.run(t0, 300_000, video, shares);
  assertEquals(recovery.carrier, video[0]);
  assertEquals(video[0].probeState, ProbeState.sending);
  for (let now = t0 + 20; now <= t0 + 400; now += 20) recovery.pace(now);
  assertGreater(padding(cams[0].link), 5);
  assertEquals(padding(cams[1].link), 0, "one carrier");
});

Deno.test("pause recovery: a carrier the split resumes mid-cluster frees recovery for the cameras still paused", () => {
  const { cams, video, now: t0 } = pausedPair();
  const recovery = new PauseRecovery();
  recovery.run(t0, 300_000, video, new Float64Array([0, 0]));
  assertEquals(recovery.carrier, video[0]);
  // The next split resumes the carrier: resuming cancels its probe, with no verdict.
  let now = t0 + 100;
  cams[0].frame(now);
  video[0].select(now, 2_000_000, 0, true);
  assertEquals(video[0].paused, false);
  assertEquals(video[0].probeState, ProbeState.idle);
  recovery.pace(now);
  assertEquals(recovery.carrier, undefined, "the resumed carrier no longer holds recovery");
  // Half a second later the camera still paused gets its probe.
  const shares = new Float64Array([1, 0]);
  recovery.run(now + 100, 500_000, video, shares);
  assertEquals(recovery.carrier, undefined, "not before 0.5 s");
  now += 600;
  recovery.run(now, 500_000, video, shares);
  assertEquals(recovery.carrier, video[1]);
  for (let t = now + 20; t <= now + 400; t += 20) recovery.pace(t);
  assertGreater(padding(cams[1].link), 5);
});

Deno.test("pause recovery: a cluster without feedback fails, and the wait doubles before the next", () => {
  const { video, now: t0 } = pausedPair();
  const recovery = new PauseRecovery();
  const shares = new Float64Array([0, 0]);
  recovery.run(t0, 300_000, video, shares);
  let now = t0;
  // 400 ms of padding (800 at most), then 1 s for covering feedback that never comes.
  while (recovery.carrier !== undefined && now < t0 + 5_000) recovery.pace(now += 20);
  assertEquals(recovery.carrier, undefined);
  assert(now >= t0 + 1_400 && now < t0 + 2_000, `failed at +${now - t0} ms`);
  const failedAt = now;
  recovery.run(failedAt + 3_900, 300_000, video, shares);
  assertEquals(recovery.carrier, undefined, "4 s after a first failure, not 2");
  recovery.run(failedAt + 4_000, 300_000, video, shares);
  assertEquals(recovery.carrier, video[0]);
});

Deno.test("pause recovery: nothing paused, or paused because hidden (maxHeight 0), probes nothing", () => {
  const { cams, video, now } = pausedPair();
  const recovery = new PauseRecovery();
  recovery.run(now, 300_000, video, new Float64Array([1, 1]));
  assertEquals(recovery.carrier, undefined);
  for (const c of cams) c.consumer.setCaps(undefined, 0);
  recovery.run(now, 300_000, video, new Float64Array([0, 0]));
  assertEquals(recovery.carrier, undefined);
});
