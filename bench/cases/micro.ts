/**
 * Case 1, data-plane micro: one inbound packet fanned out to 1, 10 and 100 consumers through
 * Quetzal's real forwarding path (InboundPacket.parse → Producer → Consumer → Munger →
 * PacketRewriter → SRTP protect → UdpLink → node:dgram), with a fake ViewerLink standing in for
 * PeerTransport, for both SRTP profiles and both backends. The baseline in the same run is
 * werift's stock path: RtpPacket.deSerialize, clone, header rewrite, SrtpSession.encrypt
 * (which serializes) and a dgram send, per consumer.
 *
 * Sinks: "null" (protect into a buffer, no send) separates the send cost; "udp" sends to a
 * loopback socket that is bound but never read (the kernel drops what overflows, so no
 * receiver competes for the CPU) the way the server does (Quetzal: the send path `auto`
 * picks, sendto over FFI on Linux; werift: node:dgram); "udp-dgram" is Quetzal through
 * node:dgram, the fallback path, for the before/after in one run. Stage costs come from cumulative pipelines timed in the same
 * run: parse only, + route and rewrite, + encrypt, + send.
 *
 * Run as a child (`deno run -A --unstable-net --v8-flags=--expose-gc bench/cases/micro.ts
 * --mode=quick`) it prints one JSON line `{ rows }`; main.ts does that.
 */
import dgram from "node:dgram";
import process from "node:process";
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket, SrtpSession as WeriftSrtpSession } from "werift";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import {
  type SrtpBackend,
  SrtpProfile,
  type SrtpProfileId,
  type SrtpSession,
} from "../../src/transport/srtp.ts";
import { tsSrtpBackend } from "../../src/transport/srtp-ts.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { sendPool } from "../../src/transport/send-pool.ts";
import { sendBatch } from "../../src/transport/send-batch.ts";
import type { DatagramLink } from "../../src/transport/datagram-link.ts";
import { selectSendPath, type SendPath } from "../../src/transport/send-path.ts";
import { emptyRow, type Row } from "../lib/report.ts";
import {
  PACKET_LENGTH,
  srtpKeys,
  stampPacket,
  vp8Packet,
  vp8Producer,
} from "../lib/synthetic-media.ts";
import { percentile } from "../lib/latency-histogram.ts";

export interface MicroOptions {
  /** Wall time per measured configuration. */
  runMs: number;
  fanouts: number[];
  /** Inbound packets per allocation check (outbound = this × fan-out). */
  allocPackets: number;
}

export const MICRO_QUICK: MicroOptions = {
  runMs: 80,
  fanouts: [1, 10, 100],
  allocPackets: 30_000,
};
export const MICRO_FULL: MicroOptions = {
  runMs: 1500,
  fanouts: [1, 10, 100],
  allocPackets: 100_000,
};
export const MICRO_SMOKE: MicroOptions = { runMs: 30, fanouts: [1, 10], allocPackets: 2048 };

/** Inbound packets per allocation-measuring chunk (× fan-out 10 outbound). */
const ALLOC_CHUNK = 256;
const PROFILES: Array<[string, SrtpProfileId]> = [
  ["AES_CM_128_HMAC_SHA1_80", SrtpProfile.AES_CM_128_HMAC_SHA1_80],
  ["AEAD_AES_128_GCM", SrtpProfile.AEAD_AES_128_GCM],
];
/** Which part of the path a run includes. */
type Stage =
  | "parse"
  | "rewrite"
  | "encrypt"
  | "send"
  | "send-dgram"
  | "send-batch"
  | "send-batch-nogso";
/** Inbound packets per send batch in the batched stages, as the receive drain closes them. */
const BATCH_INBOUND = 8;

/** A loopback UDP address that accepts datagrams and never reads them. */
interface Sink {
  port: number;
  close(): void;
}

function openSink(): Sink {
  const listen = (Deno as unknown as {
    listenDatagram?: (o: { port: number; hostname: string; transport: "udp" }) => {
      addr: Deno.NetAddr;
      close(): void;
    };
  }).listenDatagram;
  if (listen) {
    const socket = listen({ port: 0, hostname: "127.0.0.1", transport: "udp" });
    return { port: socket.addr.port, close: () => socket.close() };
  }
  // Without --unstable-net: a node:dgram socket with no reader attached.
  const socket = dgram.createSocket("udp4");
  socket.bind(0, "127.0.0.1");
  return {
    get port() {
      return (socket.address() as { port: number }).port;
    },
    close: () => socket.close(),
  };
}

/**
 * Waits for socket callbacks. A timer, not a MessageChannel: a message-port yield returns at
 * once and the loop spins (burning CPU that would be counted per packet) while the sends
 * complete on Deno's I/O threads; a timer lets the process sleep.
 */
const yieldToLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** CPU seconds of this process (all threads: Deno's socket ops run off the main thread). */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Measurement {
  outbound: number;
  inbound: number;
  wallS: number;
  cpuS: number;
  dropped: number;
}

/** Something that forwards one inbound packet to `fanout` outputs. */
interface Pipeline {
  /** Forwards inbound packet number i (sequence numbers advance). */
  forward(i: number): void;
  /** Outputs per inbound packet. */
  fanout: number;
  /** True while sends are in flight (the loop yields until they complete). */
  busy(): boolean;
  dropped(): number;
  close(): void;
}

/** Runs a pipeline for `runMs` (after a warm-up), yielding every batch so sends complete. */
async function measure(
  p: Pipeline,
  runMs: number,
  batch: number,
  yields: boolean,
): Promise<Measurement> {
  let i = 0;
  const warmEnd = performance.now() + Math.min(100, runMs);
  while (performance.now() < warmEnd) {
    for (let k = 0; k < batch; k++) p.forward(i++);
    if (yields) { while (p.busy()) await yieldToLoop(); }
  }
  const dropped0 = p.dropped();
  const start = performance.now();
  const cpu0 = cpuNow();
  const end = start + runMs;
  let inbound = 0;
  while (performance.now() < end) {
    for (let k = 0; k < batch; k++) p.forward(i++);
    inbound += batch;
    if (yields) { while (p.busy()) await yieldToLoop(); }
  }
  const wallS = (performance.now() - start) / 1000;
  const cpuS = cpuNow() - cpu0;
  return { outbound: inbound * p.fanout, inbound, wallS, cpuS, dropped: p.dropped() - dropped0 };
}

/** Quetzal's path up to `stage`, fanned out to `fanout` consumers. */
function quetzalPipeline(
  backend: SrtpBackend,
  profile: SrtpProfileId,
  fanout: number,
  stage: Stage,
  sinkPort: number,
  socket: dgram.Socket | undefined,
  sendPath: SendPath,
): Pipeline {
  const producer = vp8Producer();
  const extensions = producer.extensions;
  const sessions: SrtpSession[] = [];
  const links: DatagramLink[] = [];
  const out = new Uint8Array(1600);
  let dropped = 0;
  for (let c = 0; c < fanout; c++) {
    let link: ViewerLink;
    let twcc = 0;
    const next = () => (twcc = (twcc + 1) & 0xffff);
    if (stage === "parse" || stage === "rewrite") {
      link = { sendRtp: () => true, nextTransportSequence: next, ready: true };
    } else {
      const srtp = backend.createSession(srtpKeys(profile, c + 1));
      sessions.push(srtp);
      if (stage === "encrypt") {
        link = {
          sendRtp: (buf, len) => srtp.protectRtp(buf, len, out) > 0,
          nextTransportSequence: next,
          ready: true,
        };
      } else {
        // PeerTransport.sendRtp without werift: slot, protect in place into it, send.
        const path = stage === "send-dgram" ? selectSendPath("dgram") : sendPath;
        const udp = path.link(socket!, "127.0.0.1", sinkPort);
        links.push(udp);
        link = {
          sendRtp(buf, len) {
            const slot = udp.acquire();
            if (slot < 0) {
              dropped++;
              return false;
            }
            const n = srtp.protectRtp(buf, len, udp.view(slot));
            if (n < 0) {
              udp.discard(slot);
              return false;
            }
            udp.send(slot, n);
            return true;
          },
          nextTransportSequence: next,
          ready: true,
        };
      }
    }
    const consumer = new Consumer({
      producer,
      link,
      ssrc: 0x1000 + c,
      payloadType: 96,
      mid: "0",
      extensions,
    });
    producer.addConsumer(consumer);
  }
  const pkt = new InboundPacket();
  const key = vp8Packet(true);
  const delta = vp8Packet(false);
  // The first packet is a key frame so every consumer starts forwarding.
  pkt.parse(key, PACKET_LENGTH, extensions);
  pkt.arrivalMs = performance.now();
  producer.onPacket(pkt);
  // The batched stages: a send batch per BATCH_INBOUND inbound packets (one sendmmsg per
  // viewer), with or without UDP_SEGMENT.
  const batched = stage === "send-batch" || stage === "send-batch-nogso";
  const gsoBefore = sendBatch.gso;
  if (batched) sendBatch.gso = stage === "send-batch" && gsoBefore;
  let open = false;
  return {
    fanout: stage === "parse" ? 1 : fanout,
    forward(i: number) {
      stampPacket(delta, i);
      pkt.parse(delta, PACKET_LENGTH, extensions);
      if (stage === "parse") return;
      pkt.arrivalMs = performance.now();
      if (batched && !open) {
        sendBatch.begin();
        open = true;
      }
      producer.onPacket(pkt);
      if (open && i % BATCH_INBOUND === BATCH_INBOUND - 1) {
        sendBatch.end();
        open = false;
      }
    },
    busy: () => sendPool.available < sendPool.capacity,
    dropped: () => dropped,
    close() {
      if (open) sendBatch.end();
      if (batched) sendBatch.gso = gsoBefore;
      producer.close();
      for (const s of sessions) s.close();
      for (const l of links) l.close();
    },
  };
}

/** werift's stock per-subscriber path, the way its RTCRtpSender forwards a track. */
function weriftPipeline(
  profile: SrtpProfileId,
  fanout: number,
  stage: Stage,
  sinkPort: number,
  socket: dgram.Socket | undefined,
): Pipeline {
  const sessions: WeriftSrtpSession[] = [];
  for (let c = 0; c < fanout; c++) {
    const k = srtpKeys(profile, c + 1);
    sessions.push(
      new WeriftSrtpSession({
        keys: {
          localMasterKey: Buffer.from(k.localKey),
          localMasterSalt: Buffer.from(k.localSalt),
          remoteMasterKey: Buffer.from(k.remoteKey),
          remoteMasterSalt: Buffer.from(k.remoteSalt),
        },
        profile,
      }),
    );
  }
  const delta = Buffer.from(vp8Packet(false));
  const mid = Buffer.from("0");
  const seqs = new Uint16Array(fanout);
  let inFlight = 0;
  const onSent = () => inFlight--;
  let twcc = 0;
  return {
    fanout: stage === "parse" ? 1 : fanout,
    forward(i: number) {
      const seq = (i + 1) & 0xffff;
      delta[2] = seq >> 8;
      delta[3] = seq & 0xff;
      const rtp = RtpPacket.deSerialize(delta);
      if (stage === "parse") return;
      for (let c = 0; c < fanout; c++) {
        const out = rtp.clone();
        const h: RtpHeader = out.header;
        h.ssrc = 0x1000 + c;
        h.payloadType = 96;
        h.sequenceNumber = seqs[c]++;
        h.timestamp = (rtp.header.timestamp + 1234) >>> 0;
        // RTCRtpSender rebuilds mid, transport-wide seq and abs-send-time per packet.
        const t = Buffer.alloc(2);
        t.writeUInt16BE(twcc = (twcc + 1) & 0xffff);
        const abs = Buffer.alloc(3);
        abs.writeUIntBE(Math.floor(performance.now() * 262.144) & 0xffffff, 0, 3);
        h.extensions = [{ id: 1, payload: mid }, { id: 2, payload: abs }, { id: 3, payload: t }];
        if (stage === "rewrite") {
          out.serialize();
          continue;
        }
        const encrypted = sessions[c].encrypt(out.payload, h);
        if (stage === "send" || stage === "send-dgram") {
          inFlight++;
          socket!.send(encrypted, sinkPort, "127.0.0.1", onSent);
        }
      }
    },
    busy: () => inFlight > 0,
    dropped: () => 0,
    close() {},
  };
}

function perPacketUs(m: Measurement): number {
  return (m.cpuS * 1e6) / m.outbound;
}

/** Runs the micro case; rows per (impl, profile, fan-out, sink). */
export async function runMicro(
  options: MicroOptions,
  log: (s: string) => void = () => {},
): Promise<Row[]> {
  const libsrtp = loadLibsrtp();
  const impls: Array<{ name: string; backend?: SrtpBackend }> = [
    { name: "quetzal-ts", backend: tsSrtpBackend },
  ];
  if (libsrtp.available) impls.push({ name: "quetzal-libsrtp", backend: libsrtp.backend });
  else log(`libsrtp unavailable (${libsrtp.reason}): libsrtp rows skipped`);
  impls.push({ name: "werift-stock" });
  const sendPath = selectSendPath("auto");
  log(`send path: ${sendPath.name}`);
  const sink = openSink();
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const rows: Row[] = [];
  try {
    for (const [profileName, profile] of PROFILES) {
      for (const fanout of options.fanouts) {
        for (const impl of impls) {
          const make = (stage: Stage) =>
            impl.backend
              ? quetzalPipeline(impl.backend, profile, fanout, stage, sink.port, socket, sendPath)
              : weriftPipeline(profile, fanout, stage, sink.port, socket);
          const batch = Math.max(1, Math.min(256, Math.floor(4096 / fanout)));
          const results = {} as Record<Stage, Measurement>;
          const stages: Stage[] = ["parse", "rewrite", "encrypt", "send"];
          if (impl.backend && sendPath.name !== "dgram") {
            stages.push("send-dgram", "send-batch", "send-batch-nogso");
          }
          for (const stage of stages) {
            const p = make(stage);
            results[stage] = await measure(p, options.runMs, batch, stage.startsWith("send"));
            p.close();
          }
          // Cumulative pipelines → per-stage cost per outbound packet (parse is per inbound,
          // amortised over the fan-out).
          const parse = perPacketUs(results.parse) / fanout;
          const rewrite = perPacketUs(results.rewrite);
          const encrypt = perPacketUs(results.encrypt);
          const send = perPacketUs(results.send);
          const sinkStage = {
            "null": "encrypt",
            "udp": "send",
            "udp-dgram": "send-dgram",
            "udp-batch": "send-batch",
            "udp-batch-nogso": "send-batch-nogso",
          } as const;
          const sinks = results["send-dgram"]
            ? (["null", "udp", "udp-dgram", "udp-batch", "udp-batch-nogso"] as const)
            : (["null", "udp"] as const);
          for (const sinkName of sinks) {
            const m = results[sinkStage[sinkName]];
            const row = emptyRow("micro", impl.name);
            row.subscribers = fanout;
            row.profile = profileName;
            row.sink = sinkName;
            row.forwarded_pps = m.outbound / m.wallS;
            row.offered_pps = row.forwarded_pps;
            row.us_per_packet = perPacketUs(m);
            row.pps_per_core = 1e6 / row.us_per_packet;
            row.cpu_percent = (m.cpuS / m.wallS) * 100;
            row.delivered_ratio = m.dropped > 0 ? 1 - m.dropped / (m.outbound + m.dropped) : 1;
            row.breakdown_us = {
              parse,
              route_rewrite: Math.max(0, rewrite - parse),
              encrypt: Math.max(0, encrypt - rewrite),
              send: sinkName === "null" ? 0 : Math.max(0, perPacketUs(m) - encrypt),
            };
            row.rss_peak_mb = Deno.memoryUsage().rss / 1048576;
            const via = sinkName === "udp" && impl.backend ? ` (${sendPath.name})` : "";
            row.note = `${
              profileName === "AEAD_AES_128_GCM" ? "GCM" : "CM"
            } ${sinkName} sink${via}`;
            rows.push(row);
          }
          const us = (stage: Stage) =>
            results[stage] ? `, ${stage} ${perPacketUs(results[stage]).toFixed(2)} µs/pkt` : "";
          log(
            `micro ${impl.name} ${profileName} ×${fanout}: null ${encrypt.toFixed(2)} µs, udp ${
              send.toFixed(2)
            } µs/pkt${us("send-dgram")}${us("send-batch")}${us("send-batch-nogso")}`,
          );
        }
        // Ratios against werift in the same run (same profile, fan-out and sink).
        for (
          const row of rows.filter((r) => r.subscribers === fanout && r.profile === profileName)
        ) {
          const sink = typeof row.sink === "string" && row.sink.startsWith("udp")
            ? "udp"
            : row.sink;
          const base = rows.find((r) =>
            r.impl === "werift-stock" && r.subscribers === fanout && r.profile === profileName &&
            r.sink === sink
          );
          if (base && row.us_per_packet && base.us_per_packet) {
            row.ratio_vs_werift = base.us_per_packet / row.us_per_packet;
          }
        }
      }
    }
    rows.push(...await allocationRows(impls, options, { sendPath, socket, sinkPort: sink.port }));
  } finally {
    socket.close();
    sink.close();
  }
  return rows;
}

/**
 * Zero-allocation check (null sink, fan-out 10, GCM): heap bytes allocated per outbound
 * packet (the sum of heapUsed increases between samples), young-generation collections seen
 * (heapUsed falling between samples) and the heap retained after a forced GC, each per
 * million packets. A forced GC needs `--v8-flags=--expose-gc` (main.ts passes it).
 */
async function allocationRows(
  impls: Array<{ name: string; backend?: SrtpBackend }>,
  options: MicroOptions,
  send: { sendPath: SendPath; socket: dgram.Socket; sinkPort: number },
): Promise<Row[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const rows: Row[] = [];
  // What one Deno.memoryUsage() call allocates, to subtract from the samples.
  gc?.();
  const probeStart = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < 1000; i++) Deno.memoryUsage();
  const probeBytes = Math.max(0, (Deno.memoryUsage().heapUsed - probeStart) / 1001);
  const fanout = 10;
  // Quetzal's path without SRTP first, so the encryptors' share can be told apart.
  const variants: Array<{ name: string; backend?: SrtpBackend; stage: Stage }> = [
    { name: "quetzal-route-rewrite", backend: tsSrtpBackend, stage: "rewrite" },
    ...impls.map((i) => ({ ...i, stage: "encrypt" as Stage })),
  ];
  // The whole path including the send, where sending is synchronous (nothing to wait for).
  const fastest = impls.filter((i) => i.backend).at(-1);
  if (send.sendPath.name === "syscall" && fastest) {
    variants.push({ name: `${fastest.name}+sendto`, backend: fastest.backend, stage: "send" });
  }
  for (const impl of variants) {
    const p = impl.backend
      ? quetzalPipeline(
        impl.backend,
        SrtpProfile.AEAD_AES_128_GCM,
        fanout,
        impl.stage,
        send.sinkPort,
        send.socket,
        send.sendPath,
      )
      : weriftPipeline(SrtpProfile.AEAD_AES_128_GCM, fanout, impl.stage, 0, undefined);
    // Warm up until optimised code runs: unoptimised code boxes every double it touches, an
    // allocation that steady state does not have (up to 20k packets or 0.7 s).
    const warmEnd = performance.now() + 700;
    let w = 0;
    while (w < 20_000 && performance.now() < warmEnd) p.forward(w++);
    gc?.();
    await yieldToLoop();
    gc?.();
    const before = Deno.memoryUsage().heapUsed;
    // (1) Bytes per packet: short chunks, each from a just-collected heap, so no scavenge
    // happens inside a chunk and the heapUsed difference is what the chunk allocated. The
    // median chunk is reported (a chunk that meets a background GC step is an outlier).
    const perChunk: number[] = [];
    let w2 = w;
    if (gc) {
      for (let c = 0; c < 12; c++) {
        gc();
        const h0 = Deno.memoryUsage().heapUsed;
        for (let i = 0; i < ALLOC_CHUNK; i++) p.forward(w2++);
        perChunk.push((Deno.memoryUsage().heapUsed - h0 - probeBytes) / (ALLOC_CHUNK * fanout));
      }
    }
    // (2) Collections: a long run without forced GCs, sampled sparsely; heapUsed falling
    // between two samples means a collection ran.
    gc?.();
    let last = Deno.memoryUsage().heapUsed;
    let collections = 0;
    let grown = 0;
    let samples = 0;
    for (let i = 0; i < options.allocPackets; i++) {
      p.forward(w2 + i);
      if ((i & 1023) === 1023) {
        const now = Deno.memoryUsage().heapUsed;
        if (now < last) collections++;
        else grown += now - last;
        last = now;
        samples++;
      }
    }
    const allocated = perChunk.length > 0
      ? percentile(perChunk, 0.5) * options.allocPackets * fanout
      : Math.max(0, grown - samples * probeBytes);
    gc?.();
    const retained = Deno.memoryUsage().heapUsed - before;
    p.close();
    const outbound = options.allocPackets * fanout;
    const row = emptyRow("micro-alloc", impl.name);
    row.subscribers = fanout;
    row.profile = "AEAD_AES_128_GCM";
    row.sink = impl.stage === "send" ? "udp" : "null";
    row.alloc_bytes_per_packet = allocated / outbound;
    row.gc_per_million_packets = (collections * 1e6) / outbound;
    row.heap_growth_mb_per_million = gc ? (retained / 1048576) * (1e6 / outbound) : null;
    row.forced_gc = gc !== undefined;
    row.note = `alloc ${(allocated / outbound).toFixed(1)} B/pkt, ${
      ((collections * 1e6) / outbound).toFixed(0)
    } GCs/M pkt`;
    rows.push(row);
  }
  return rows;
}

function modeOptions(mode: string | undefined): MicroOptions {
  return mode === "full" ? MICRO_FULL : mode === "smoke" ? MICRO_SMOKE : MICRO_QUICK;
}

if (import.meta.main) {
  const mode = Deno.args.find((a) => a.startsWith("--mode="))?.slice(7);
  const rows = await runMicro(modeOptions(mode), (s) => console.error(s));
  console.log(JSON.stringify({ rows }));
  Deno.exit(0);
}
