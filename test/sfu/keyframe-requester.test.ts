import { assert, assertEquals } from "@std/assert";
import { KeyframeRequester } from "../../src/sfu/keyframe-requester.ts";

function setup() {
  const sent: [number, number, boolean][] = [];
  let now = 0;
  const kf = new KeyframeRequester((ssrc, fir) => sent.push([now, ssrc, fir]));
  kf.addLayer(1, { lowest: true });
  kf.addLayer(2);
  kf.addLayer(3, { useFir: true });
  return { kf, sent, setNow: (t: number) => (now = t) };
}

Deno.test("keyframe requester: 100 viewers switching within 100 ms → 1 PLI", () => {
  const { kf, sent, setNow } = setup();
  for (let v = 0; v < 100; v++) {
    const t = 10_000 + v;
    setNow(t);
    kf.request(2, t);
    kf.tick(t);
  }
  assertEquals(sent, [[10_000, 2, false]]);
  assertEquals(kf.requestsAsked, 100);
});

Deno.test("keyframe requester: repeats per throttle while pending, stops at the key frame", () => {
  const rows = [
    { ssrc: 1, want: [0, 500, 1000, 1500, 2000, 2500, 3000] }, // lowest: 500 ms
    { ssrc: 2, want: [0, 1000, 2000, 3000] },
  ];
  for (const r of rows) {
    const { kf, sent, setNow } = setup();
    setNow(0);
    kf.request(r.ssrc, 0);
    for (let t = 0; t <= 3_050; t += 50) {
      setNow(t);
      kf.tick(t);
    }
    assertEquals(sent.map((s) => s[0]), r.want, `ssrc ${r.ssrc}`);
    kf.onKeyFrame(r.ssrc);
    assertEquals(kf.isPending(r.ssrc), false);
    for (let t = 3_100; t <= 6_000; t += 50) kf.tick(t);
    assertEquals(sent.length, r.want.length, "nothing after the key frame");
  }
});

Deno.test("keyframe requester: a new request inside the interval waits for it", () => {
  const { kf, sent, setNow } = setup();
  setNow(0);
  assert(kf.request(2, 0));
  kf.onKeyFrame(2);
  setNow(300);
  assertEquals(kf.request(2, 300), false);
  for (let t = 300; t <= 1_200; t += 100) {
    setNow(t);
    kf.tick(t);
  }
  assertEquals(sent.map((s) => s[0]), [0, 1_000]);
});

Deno.test("keyframe requester: per SSRC, FIR where configured, unknown SSRCs accepted", () => {
  const { kf, sent, setNow } = setup();
  setNow(0);
  kf.request(1, 0);
  kf.request(2, 0);
  kf.request(3, 0);
  kf.request(99, 0);
  assertEquals(sent, [[0, 1, false], [0, 2, false], [0, 3, true], [0, 99, false]]);
  kf.cancel(3);
  kf.removeLayer(99);
  setNow(1_000);
  kf.tick(1_000);
  assertEquals(sent.slice(4), [[1_000, 1, false], [1_000, 2, false]]);
});
