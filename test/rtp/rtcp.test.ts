import { assert, assertEquals } from "@std/assert";
import { Buffer } from "node:buffer";
import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  RtcpPacketConverter,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
} from "werift";
import {
  PsfbFmt,
  readFirSeqNr,
  readFirSsrcs,
  readNack,
  readRemb,
  readRembSsrcs,
  readReportBlock,
  readSenderReport,
  type ReportBlock,
  RtcpReader,
  RtcpType,
  RtpfbFmt,
  type SenderReportInfo,
} from "../../src/rtp/rtcp-reader.ts";
import {
  writeBye,
  writeFir,
  writeNack,
  writePli,
  writeReceiverReport,
  writeRemb,
  writeSdesCname,
  writeSenderReport,
} from "../../src/rtp/rtcp-writer.ts";
import {
  compactNtp,
  ntpFracFromUnixMs,
  ntpSecFromUnixMs,
  ntpToUnixMs,
} from "../../src/rtp/ntp-time.ts";

function werift(buf: Uint8Array, len: number) {
  return RtcpPacketConverter.deSerialize(Buffer.from(buf.subarray(0, len)));
}

function block(over: Partial<ReportBlock> = {}): ReportBlock {
  return {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
    ...over,
  };
}

function sr(): SenderReportInfo {
  return { ssrc: 0, ntpSec: 0, ntpFrac: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0 };
}

Deno.test("NTP: Unix ms ↔ NTP words (RFC 3550 §4)", () => {
  assertEquals(ntpSecFromUnixMs(0), 2208988800);
  assertEquals(ntpFracFromUnixMs(0), 0);
  assertEquals(ntpFracFromUnixMs(500), 0x80000000);
  assertEquals(ntpFracFromUnixMs(250), 0x40000000);
  assertEquals(ntpFracFromUnixMs(1_700_000_000_750), 0xc0000000);
  assertEquals(ntpSecFromUnixMs(1_700_000_000_750), 1_700_000_000 + 2208988800);
  assertEquals(ntpFracFromUnixMs(999.9999999), 0xffffffff); // sub-ms kept, never overflows
  assertEquals(ntpFracFromUnixMs(0.5), 2147483);
  // Era 1 starts 2036-02-07T06:28:16Z: the seconds word wraps to 0.
  assertEquals(ntpSecFromUnixMs(Date.UTC(2036, 1, 7, 6, 28, 16)), 0);
  assertEquals(ntpToUnixMs(2208988800 + 1_700_000_000, 0x80000000), 1_700_000_000_500);
  assertEquals(compactNtp(0x12345678, 0x9abcdef0), 0x56789abc);
});

Deno.test("RtcpReader: iterates a compound packet and reports SSRCs", () => {
  const buf = new Uint8Array(200);
  let n = writeSenderReport(buf, 0, 0x11111111, 1_700_000_000_000, 90000, 10, 1000);
  n += writeSdesCname(buf, n, 0x11111111, "quetzal");
  n += writePli(buf, n, 0x22222222, 0x33333333);
  n += writeNack(buf, n, 0x22222222, 0x44444444, [100], 1);
  n += writeBye(buf, n, 0x11111111);
  const r = new RtcpReader();
  r.reset(buf, n);
  const seen: [number, number, number, number][] = [];
  while (r.next()) seen.push([r.type, r.fmt, r.senderSsrc, r.mediaSsrc]);
  assertEquals(r.malformed, false);
  assertEquals(seen, [
    [RtcpType.SR, 0, 0x11111111, 0],
    [RtcpType.SDES, 1, 0x11111111, 0],
    [RtcpType.PSFB, PsfbFmt.PLI, 0x22222222, 0x33333333],
    [RtcpType.RTPFB, RtpfbFmt.NACK, 0x22222222, 0x44444444],
    [RtcpType.BYE, 1, 0x11111111, 0],
  ]);
  assertEquals(r.next(), false);
});

Deno.test("RtcpReader: malformed inputs stop iteration", () => {
  const rows: { name: string; bytes: number[]; good: number }[] = [
    { name: "empty", bytes: [], good: 0 },
    { name: "short header", bytes: [0x80, 201], good: 0 },
    { name: "version 1", bytes: [0x40, 201, 0, 1, 0, 0, 0, 1], good: 0 },
    { name: "length past end", bytes: [0x80, 201, 0, 2, 0, 0, 0, 1], good: 0 },
    {
      name: "good then truncated",
      bytes: [0x80, 201, 0, 1, 0, 0, 0, 1, 0x81, 206, 0, 2, 0, 0],
      good: 1,
    },
  ];
  const r = new RtcpReader();
  for (const row of rows) {
    const buf = new Uint8Array(row.bytes);
    r.reset(buf, buf.length);
    let good = 0;
    while (r.next()) good++;
    assertEquals(good, row.good, row.name);
    assertEquals(r.malformed, row.bytes.length > 0, row.name);
  }
  // len shorter than the buffer is honoured.
  const buf = new Uint8Array([0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 201, 0, 1, 0, 0, 0, 2]);
  r.reset(buf, 8);
  assert(r.next());
  assertEquals(r.next(), false);
  assertEquals(r.malformed, false);
});

Deno.test("SR: round trip through our reader and werift", () => {
  const buf = new Uint8Array(64);
  const ms = 1_700_000_123_456;
  const n = writeSenderReport(buf, 0, 0xdeadbeef, ms, 0xfffffff0, 4242, 0x89abcdef);
  assertEquals(n, 28);
  const info = sr();
  readSenderReport(buf, 0, info);
  assertEquals(info, {
    ssrc: 0xdeadbeef,
    ntpSec: ntpSecFromUnixMs(ms),
    ntpFrac: ntpFracFromUnixMs(ms),
    rtpTimestamp: 0xfffffff0,
    packetCount: 4242,
    octetCount: 0x89abcdef,
  });
  assertEquals(Math.round(ntpToUnixMs(info.ntpSec, info.ntpFrac)), ms);
  const [p] = werift(buf, n);
  assert(p instanceof RtcpSrPacket);
  assertEquals(p.ssrc, 0xdeadbeef);
  assertEquals(
    p.senderInfo.ntpTimestamp,
    (BigInt(info.ntpSec) << 32n) | BigInt(info.ntpFrac),
  );
  assertEquals(p.senderInfo.rtpTimestamp, 0xfffffff0);
  assertEquals(p.senderInfo.packetCount, 4242);
  assertEquals(p.senderInfo.octetCount, 0x89abcdef);
  assertEquals(p.reports.length, 0);
});

Deno.test("RR: round trip with signed cumulative loss, through our reader and werift", () => {
  const blocks = [
    block({
      ssrc: 0x01020304,
      fractionLost: 64,
      cumulativeLost: 1234,
      extendedHighestSeq: 0x0002fffe,
      jitter: 345,
      lastSr: 0x56789abc,
      delaySinceLastSr: 65536,
    }),
    block({ ssrc: 0xfffffffe, cumulativeLost: -3, extendedHighestSeq: 77 }),
    block({ ssrc: 5, cumulativeLost: 0x1000000 }), // clamped
  ];
  const buf = new Uint8Array(128);
  const n = writeReceiverReport(buf, 0, 0xcafebabe, blocks, 3);
  assertEquals(n, 8 + 72);
  const r = new RtcpReader();
  r.reset(buf, n);
  assert(r.next());
  assertEquals([r.type, r.fmt, r.senderSsrc, r.length], [RtcpType.RR, 3, 0xcafebabe, n]);
  const out = block();
  assert(readReportBlock(buf, r.offset, r.length, 0, out));
  assertEquals(out, blocks[0]);
  assert(readReportBlock(buf, r.offset, r.length, 1, out));
  assertEquals(out, blocks[1]);
  assert(readReportBlock(buf, r.offset, r.length, 2, out));
  assertEquals(out.cumulativeLost, 0x7fffff);
  assertEquals(readReportBlock(buf, r.offset, r.length, 3, out), false);
  assertEquals(readReportBlock(buf, r.offset, r.length - 4, 2, out), false); // truncated block

  const [p] = werift(buf, n);
  assert(p instanceof RtcpRrPacket);
  assertEquals(p.ssrc, 0xcafebabe);
  assertEquals(p.reports.length, 3);
  assertEquals(p.reports[0].ssrc, 0x01020304);
  assertEquals(p.reports[0].fractionLost, 64);
  assertEquals(p.reports[0].packetsLost, 1234);
  assertEquals(p.reports[0].highestSequence, 0x0002fffe);
  assertEquals(p.reports[0].jitter, 345);
  assertEquals(p.reports[0].lsr, 0x56789abc);
  assertEquals(p.reports[0].dlsr, 65536);
  assertEquals(p.reports[1].packetsLost, 0xfffffd); // werift reads it unsigned
});

Deno.test("SR with report blocks serialized by werift: read by ours", () => {
  const wire = new RtcpSrPacket({
    ssrc: 0x0a0b0c0d,
    senderInfo: new RtcpSenderInfo({
      ntpTimestamp: (0xe8000001n << 32n) | 0x40000000n,
      rtpTimestamp: 123456,
      packetCount: 5,
      octetCount: 600,
    }),
    reports: [
      new RtcpReceiverInfo({
        ssrc: 42,
        fractionLost: 3,
        packetsLost: 9,
        highestSequence: 70000,
        jitter: 11,
        lsr: 12,
        dlsr: 13,
      }),
      new RtcpReceiverInfo({
        ssrc: 43,
        fractionLost: 0,
        packetsLost: 0,
        highestSequence: 1,
        jitter: 0,
        lsr: 0,
        dlsr: 0,
      }),
    ],
  });
  const buf = new Uint8Array(wire.serialize());
  const r = new RtcpReader();
  r.reset(buf, buf.length);
  assert(r.next());
  assertEquals([r.type, r.fmt, r.senderSsrc, r.length], [RtcpType.SR, 2, 0x0a0b0c0d, 76]);
  const info = sr();
  readSenderReport(buf, r.offset, info);
  assertEquals(info, {
    ssrc: 0x0a0b0c0d,
    ntpSec: 0xe8000001,
    ntpFrac: 0x40000000,
    rtpTimestamp: 123456,
    packetCount: 5,
    octetCount: 600,
  });
  const out = block();
  assert(readReportBlock(buf, r.offset, r.length, 0, out));
  assertEquals(
    out,
    block({
      ssrc: 42,
      fractionLost: 3,
      cumulativeLost: 9,
      extendedHighestSeq: 70000,
      jitter: 11,
      lastSr: 12,
      delaySinceLastSr: 13,
    }),
  );
  assert(readReportBlock(buf, r.offset, r.length, 1, out));
  assertEquals(out.ssrc, 43);
  assertEquals(readReportBlock(buf, r.offset, r.length, 2, out), false);
  assertEquals(r.next(), false);
});

Deno.test("PLI: round trip through our reader and werift", () => {
  const buf = new Uint8Array(12);
  assertEquals(writePli(buf, 0, 0xaaaaaaaa, 0xbbbbbbbb), 12);
  assertEquals(writePli(new Uint8Array(11), 0, 1, 2), 0);
  const [p] = werift(buf, 12);
  assert(p instanceof RtcpPayloadSpecificFeedback);
  assert(p.feedback instanceof PictureLossIndication);
  assertEquals([p.feedback.senderSsrc, p.feedback.mediaSsrc], [0xaaaaaaaa, 0xbbbbbbbb]);
});

Deno.test("FIR: round trip through our reader and werift", () => {
  const buf = new Uint8Array(20);
  assertEquals(writeFir(buf, 0, 0x01010101, 0x02020202, 7), 20);
  const r = new RtcpReader();
  r.reset(buf, 20);
  assert(r.next());
  assertEquals([r.type, r.fmt, r.mediaSsrc], [RtcpType.PSFB, PsfbFmt.FIR, 0]);
  const ssrcs = new Uint32Array(4);
  assertEquals(readFirSsrcs(buf, r.offset, r.length, ssrcs), 1);
  assertEquals(ssrcs[0], 0x02020202);
  assertEquals(readFirSeqNr(buf, r.offset, r.length, 0x02020202), 7);
  assertEquals(readFirSeqNr(buf, r.offset, r.length, 0x03030303), -1);
  const [p] = werift(buf, 20);
  assert(p instanceof RtcpPayloadSpecificFeedback);
  const fir = p.feedback as unknown as {
    senderSsrc: number;
    fir: { ssrc: number; sequenceNumber: number }[];
  };
  assertEquals(fir.senderSsrc, 0x01010101);
  assertEquals(fir.fir, [{ ssrc: 0x02020202, sequenceNumber: 7 }]);
});

Deno.test("NACK: PID+BLP packing rows, round trip through our reader and werift", () => {
  const rows: { name: string; seqs: number[]; pairs: number; want?: number[] }[] = [
    { name: "single", seqs: [13], pairs: 1 },
    { name: "pion example", seqs: [13, 15, 17], pairs: 1 },
    { name: "17 consecutive", seqs: Array.from({ length: 17 }, (_, i) => 100 + i), pairs: 1 },
    { name: "18 consecutive", seqs: Array.from({ length: 18 }, (_, i) => 100 + i), pairs: 2 },
    { name: "wrap", seqs: [65534, 65535, 0, 1, 20], pairs: 2 },
    { name: "duplicates", seqs: [5, 5, 6, 6], pairs: 1, want: [5, 6] },
    { name: "far apart", seqs: [1, 1000, 30000], pairs: 3 },
  ];
  const buf = new Uint8Array(256);
  const got = new Uint16Array(64);
  for (const row of rows) {
    const n = writeNack(buf, 0, 1, 0x5555, row.seqs, row.seqs.length);
    assertEquals(n, 12 + 4 * row.pairs, row.name);
    const want = row.want ?? row.seqs;
    const count = readNack(buf, 0, n, got);
    assertEquals(Array.from(got.subarray(0, count)), want, row.name);
    const [p] = werift(buf, n);
    assert(p instanceof RtcpTransportLayerFeedback, row.name);
    assert(p.feedback instanceof GenericNack, row.name);
    assertEquals(p.feedback.mediaSourceSsrc, 0x5555, row.name);
    // werift does not reduce PID + i modulo 2^16; the bytes are the same.
    assertEquals(p.feedback.lost.map((s) => s & 0xffff), want, row.name);
  }
  assertEquals(writeNack(buf, 0, 1, 2, [], 0), 0);
  // Output capped at out.length.
  const n = writeNack(buf, 0, 1, 2, [1, 2, 3, 4], 4);
  assertEquals(readNack(buf, 0, n, new Uint16Array(2)), 2);
  // Pairs that do not fit are left out.
  assertEquals(writeNack(new Uint8Array(16), 0, 1, 2, [1, 100], 2), 16);
});

Deno.test("REMB: round trip through our reader and werift", () => {
  const rows = [0, 1, 0x3ffff, 0x40000, 1_500_000, 123_456_789, 10_000_000_000];
  const buf = new Uint8Array(64);
  for (const bps of rows) {
    const n = writeRemb(buf, 0, 0x10, bps, [0x20, 0x30]);
    assertEquals(n, 28);
    const got = readRemb(buf, 0, n);
    assert(got === bps || (got < bps && got > bps * 0.99999), `${bps} → ${got}`);
    const ssrcs = new Uint32Array(4);
    assertEquals(readRembSsrcs(buf, 0, n, ssrcs), 2);
    assertEquals(Array.from(ssrcs.subarray(0, 2)), [0x20, 0x30]);
    const [p] = werift(buf, n);
    assert(p instanceof RtcpPayloadSpecificFeedback);
    assert(p.feedback instanceof ReceiverEstimatedMaxBitrate);
    assertEquals(p.feedback.bitrate, BigInt(got));
    assertEquals(p.feedback.ssrcFeedbacks, [0x20, 0x30]);
    assertEquals(p.feedback.senderSsrc, 0x10);
  }
  // An AFB that is not REMB.
  writeRemb(buf, 0, 1, 1000, []);
  buf[12] = 0x41;
  assertEquals(readRemb(buf, 0, 20), -1);
  assertEquals(readRemb(buf, 0, 16), -1);
});

Deno.test("SDES CNAME: padded to 32 bits, parsed by werift", () => {
  const buf = new Uint8Array(300);
  for (const cname of ["", "a", "ab", "abc", "quetzal", "{8c6d2a}-é"]) {
    const n = writeSdesCname(buf, 0, 0x77, cname);
    const utf8 = new TextEncoder().encode(cname).length;
    assertEquals(n % 4, 0, cname);
    assert(n >= 11 + utf8 && n <= 14 + utf8, cname);
    assertEquals(buf[n - 1], 0, cname);
    const r = new RtcpReader();
    r.reset(buf, n);
    assert(r.next());
    assertEquals([r.type, r.fmt, r.senderSsrc, r.length], [RtcpType.SDES, 1, 0x77, n]);
    const [p] = werift(buf, n);
    assert(p instanceof RtcpSourceDescriptionPacket, cname);
    assertEquals(p.chunks[0].source, 0x77);
    assertEquals(p.chunks[0].items[0].type, 1);
    assertEquals(p.chunks[0].items[0].text, cname);
  }
  assertEquals(writeSdesCname(new Uint8Array(12), 0, 1, "abcdefgh"), 0);
});

Deno.test("BYE: 8 bytes, read back", () => {
  const buf = new Uint8Array(8);
  assertEquals(writeBye(buf, 0, 0x12345678), 8);
  const r = new RtcpReader();
  r.reset(buf, 8);
  assert(r.next());
  assertEquals([r.type, r.fmt, r.senderSsrc], [RtcpType.BYE, 1, 0x12345678]);
});

Deno.test("readNack and readFirSsrcs ignore trailing padding", () => {
  const buf = new Uint8Array(32);
  const n = writeNack(buf, 0, 1, 2, [10], 1);
  // Append 4 bytes of padding and set P.
  buf[0] |= 0x20;
  buf[3] += 1;
  buf[n + 3] = 4;
  const out = new Uint16Array(8);
  assertEquals(readNack(buf, 0, n + 4, out), 1);
  assertEquals(out[0], 10);

  const fir = new Uint8Array(32);
  const m = writeFir(fir, 0, 1, 2, 3);
  fir[0] |= 0x20;
  fir[3] += 2;
  fir[m + 7] = 8; // 8 bytes of padding would otherwise read as a second entry
  const ssrcs = new Uint32Array(4);
  assertEquals(readFirSsrcs(fir, 0, m + 8, ssrcs), 1);
  assertEquals(ssrcs[0], 2);
});
