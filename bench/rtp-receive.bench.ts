/**
 * Per-packet cost of the byte-level receive helpers in src/rtp: sequence unwrapping, NACK
 * generation, receive statistics, the retransmission cache and VP8/H264 payload inspection.
 *
 * Run: deno bench --allow-all bench/rtp-receive.bench.ts
 *
 * Measured 2026-11-23, Deno 2.9.6, shared 2-core machine (averages per packet, from the ×1000
 * rows): unwrap 1.4 ns, NACK push 9 ns, receive stats 15 ns, cache put+find of 1200 B 22 ns,
 * VP8 key-frame inspect 12 ns, H264 FU-A middle 2.6 ns; RR+PLI+NACK written and iterated 65 ns.
 */
import { SeqUnwrapper } from "../src/rtp/seq.ts";
import { NackGenerator } from "../src/rtp/nack-generator.ts";
import { ReceiveStats } from "../src/rtp/receive-stats.ts";
import { RetransmissionCache } from "../src/rtp/retransmission-cache.ts";
import { inspectVideoPayload, type VideoFrameInfo } from "../src/rtp/codecs/codec.ts";
import { RtcpReader } from "../src/rtp/rtcp-reader.ts";
import { writeNack, writePli, writeReceiverReport } from "../src/rtp/rtcp-writer.ts";

const PACKETS = 1000;
const packet = new Uint8Array(1200).map((_, i) => i & 0xff);
const info: VideoFrameInfo = { keyframe: false, width: 0, height: 0, idr: false };
const vp8 = new Uint8Array([
  0x90,
  0xe0,
  0x80,
  0x01,
  0x00,
  0x40,
  0x50,
  0x42,
  0x00,
  0x9d,
  0x01,
  0x2a,
  0x80,
  0x02,
  0xe0,
  0x01,
]);
const h264Fu = new Uint8Array([0x7c, 0x05, 1, 2, 3, 4, 5, 6]);

Deno.bench(`SeqUnwrapper.unwrap ×${PACKETS}`, () => {
  const u = new SeqUnwrapper();
  for (let i = 0; i < PACKETS; i++) u.unwrap((65000 + i) & 0xffff);
});

const nack = new NackGenerator();
const nackOut = new Uint16Array(256);
let nackSeq = 0;
Deno.bench(`NackGenerator.push ×${PACKETS} (1% loss) + collect`, () => {
  for (let i = 0; i < PACKETS; i++) {
    nackSeq = (nackSeq + (i % 100 === 0 ? 2 : 1)) & 0xffff;
    nack.push(nackSeq, i);
  }
  nack.collect(PACKETS, 50, nackOut);
});

const stats = new ReceiveStats(90000);
let statsSeq = 0;
Deno.bench(`ReceiveStats.update ×${PACKETS}`, () => {
  for (let i = 0; i < PACKETS; i++) {
    statsSeq = (statsSeq + 1) & 0xffff;
    stats.update(statsSeq, (statsSeq * 3000) >>> 0, statsSeq * 33.3 + (i & 3));
  }
});

const cache = new RetransmissionCache(512);
let cacheSeq = 0;
Deno.bench(`RetransmissionCache.put 1200 B + find ×${PACKETS}`, () => {
  for (let i = 0; i < PACKETS; i++) {
    cacheSeq = (cacheSeq + 1) & 0xffff;
    cache.put(cacheSeq, packet, 1200, cacheSeq, i);
    cache.find((cacheSeq - 100) & 0xffff);
  }
});

Deno.bench(`inspectVideoPayload vp8 key frame ×${PACKETS}`, () => {
  for (let i = 0; i < PACKETS; i++) inspectVideoPayload("vp8", vp8, 0, vp8.length, info);
});

Deno.bench(`inspectVideoPayload h264 FU-A middle ×${PACKETS}`, () => {
  for (let i = 0; i < PACKETS; i++) inspectVideoPayload("h264", h264Fu, 0, h264Fu.length, info);
});

const rtcp = new Uint8Array(1500);
const block = {
  ssrc: 1,
  fractionLost: 0,
  cumulativeLost: 0,
  extendedHighestSeq: 0,
  jitter: 0,
  lastSr: 0,
  delaySinceLastSr: 0,
};
const blocks = [block];
const lost = new Uint16Array([10, 12, 14, 40]);
const reader = new RtcpReader();
Deno.bench("RTCP write RR+PLI+NACK, then iterate", () => {
  let n = writeReceiverReport(rtcp, 0, 1, blocks, 1);
  n += writePli(rtcp, n, 1, 2);
  n += writeNack(rtcp, n, 1, 2, lost, lost.length);
  reader.reset(rtcp, n);
  while (reader.next());
});
