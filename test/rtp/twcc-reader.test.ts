import { assertEquals } from "@std/assert";
import { readTwccFeedback, TwccFeedback, TwccReadError } from "../../src/rtp/twcc-reader.ts";
import { TwccStatus, writeTwccFeedback } from "../../src/rtp/twcc-writer.ts";

/** Hand-built: base 1, 3 packets small deltas 1, 2, 3 ms, reference 1 (64 ms), 3 pad bytes. */
const HAND = new Uint8Array([
  0xaf,
  0xcd,
  0x00,
  0x06, // V=2 P=1 FMT=15, PT=205, length 6 (28 bytes)
  0x00,
  0x00,
  0x00,
  0x01, // sender SSRC
  0x00,
  0x00,
  0x00,
  0x02, // media SSRC
  0x00,
  0x01,
  0x00,
  0x03, // base seq 1, count 3
  0x00,
  0x00,
  0x01,
  0x07, // reference 1, fb count 7
  0x20,
  0x03, // run-length: small delta × 3
  0x04,
  0x08,
  0x0c, // deltas 1 ms, 2 ms, 3 ms
  0x00,
  0x00,
  0x03, // padding
]);

Deno.test("twcc reader: hand-built packet", () => {
  const fb = new TwccFeedback(16);
  assertEquals(readTwccFeedback(HAND, 0, HAND.length, fb), 3);
  assertEquals([fb.senderSsrc, fb.mediaSsrc, fb.baseSeq, fb.statusCount], [1, 2, 1, 3]);
  assertEquals([fb.referenceTime64ms, fb.feedbackCount], [1, 7]);
  assertEquals(Array.from(fb.deltaUs.subarray(0, 3)), [1000, 2000, 3000]);
  assertEquals(Array.from(fb.arrivalUs.subarray(0, 3)), [65_000, 67_000, 70_000]);
});

Deno.test("twcc reader: rejects malformed input", () => {
  const fb = new TwccFeedback(16);
  const rows: { name: string; mutate: (b: Uint8Array) => Uint8Array; want: number }[] = [
    { name: "short", mutate: (b) => b.subarray(0, 16), want: TwccReadError.truncated },
    { name: "wrong PT", mutate: (b) => (b[1] = 206, b), want: TwccReadError.notTwcc },
    { name: "wrong FMT", mutate: (b) => (b[0] = 0xa1, b), want: TwccReadError.notTwcc },
    { name: "length past end", mutate: (b) => (b[3] = 9, b), want: TwccReadError.truncated },
    { name: "zero pad count", mutate: (b) => (b[27] = 0, b), want: TwccReadError.malformed },
    { name: "count beyond chunks", mutate: (b) => (b[15] = 200, b), want: TwccReadError.malformed },
    {
      name: "deltas missing",
      mutate: (b) => (b[21] = 0x03, b[20] = 0x40, b),
      want: TwccReadError.malformed,
    },
  ];
  for (const r of rows) {
    const b = r.mutate(HAND.slice());
    assertEquals(readTwccFeedback(b, 0, b.length, fb), r.want, r.name);
  }
});

Deno.test("twcc reader: status vectors of both sizes and a capacity limit", () => {
  const statuses = new Uint8Array([1, 0, 2, 1, 0, 0, 1, 1, 2, 0, 1]);
  const deltas = new Int32Array([4, 0, -8, 255, 0, 0, 1, 0, 1000, 0, 7]);
  const buf = new Uint8Array(100);
  const n = writeTwccFeedback(buf, 4, 9, 8, 65534, 0xffffff, 255, statuses, deltas, 11);
  assertEquals(n % 4, 0);
  const full = new TwccFeedback(64);
  assertEquals(readTwccFeedback(buf, 4, n, full), 11);
  assertEquals(Array.from(full.status.subarray(0, 11)), Array.from(statuses));
  for (let i = 0; i < 11; i++) {
    assertEquals(full.deltaUs[i], statuses[i] === TwccStatus.notReceived ? 0 : deltas[i] * 250);
  }
  assertEquals(full.baseSeq, 65534);
  assertEquals(full.referenceTime64ms, 0xffffff);
  const small = new TwccFeedback(5);
  assertEquals(readTwccFeedback(buf, 4, n, small), 5);
  assertEquals(small.statusCount, 11);
  assertEquals(Array.from(small.status), [1, 0, 2, 1, 0]);
  assertEquals(small.deltaUs[2], -2000);
});
