/**
 * WHEP viewers for the bench, many per process: werift negotiates (ICE, DTLS, key export) and
 * each SRTP datagram is then decrypted with Quetzal's SRTP backend and counted, not handed to
 * werift's media stack: a werift receive path costs ~40 µs per packet on Deno and would make
 * the load generator, not the server, the bottleneck on a small machine. Each packet's send
 * time (payload, see media-clock.ts) gives its one-way latency and its timeline bucket.
 *
 * Each viewer sends an RTCP receiver report every second, as browsers do: Quetzal ends a
 * session that sends no SRTP/SRTCP for 15 s (DEAD_PEER_MS in src/session/session-base.ts).
 *
 * A viewer added with a `rid` pins its video to that simulcast layer through the WHEP layer
 * extension (POST `{mediaId, rid}` to the session's `/layer` URL, the server's
 * `urn:ietf:params:whep:ext:core:layer` Link) once connected.
 *
 * Commands: add { url, stream, count, kinds, rid? }, window { }, report { fromMs, toMs },
 * remove { count }, series { fromMs, toMs }.
 */
import { RTCPeerConnection } from "werift";
import { startStunStub } from "../../test/support/stun-stub.ts";
import { selectSrtpBackend } from "../../src/transport/srtp-backend.ts";
import { rtpHeaderLength, type SrtpProfileId, type SrtpSession } from "../../src/transport/srtp.ts";
import { type Command, serveCommands } from "./child-protocol.ts";
import { LatencyHistogram } from "./latency-histogram.ts";
import { epochMs, SEND_TIME_OFFSET, Timeline } from "./media-clock.ts";
import { connected, createClientPeer, negotiate } from "./werift-peer.ts";

const backend = selectSrtpBackend("auto");
const stun = await startStunStub();

interface HookableDtls {
  srtpStarted: boolean;
  startSrtp: () => void;
  dtls?: {
    srtp: { srtpProfile?: number };
    extractSessionKeys(keyLength: number, saltLength: number): {
      localKey: Uint8Array;
      localSalt: Uint8Array;
      remoteKey: Uint8Array;
      remoteSalt: Uint8Array;
    };
  };
  iceTransport: {
    connection: {
      onData: { subscribe(fn: (data: Uint8Array) => void): unknown };
      send(data: Uint8Array): Promise<void>;
    };
  };
}

/** Shared by every viewer of this process: counts by send time, latency while windowed. */
const timeline = new Timeline();
const latency = new LatencyHistogram();
let srtpErrors = 0;
/** SRTP failures by SrtpError code (-1 malformed, -2 auth, -3 replay, -4 too short). */
const srtpErrorsByCode: Record<string, number> = {};
let packets = 0;
let retries = 0;
const scratch = new Uint8Array(2048);
const view = new DataView(scratch.buffer);

class Viewer {
  readonly pc: RTCPeerConnection;
  srtp: SrtpSession | undefined;
  send: ((data: Uint8Array) => Promise<void>) | undefined;
  readonly ssrc = crypto.getRandomValues(new Uint32Array(1))[0];
  /** The WHEP resource, deleted on close as a real client would. */
  resource = "";
  ready = Promise.withResolvers<void>();

  constructor() {
    this.pc = createClientPeer(stun.url);
  }

  hook(): void {
    const dtls = this.pc.dtlsTransports[0] as unknown as HookableDtls | undefined;
    if (!dtls) throw new Error("werift created no DTLS transport");
    dtls.startSrtp = () => {
      if (dtls.srtpStarted || !dtls.dtls) return;
      dtls.srtpStarted = true;
      const profile = (dtls.dtls.srtp.srtpProfile ?? 1) as SrtpProfileId;
      const keys = dtls.dtls.extractSessionKeys(16, profile === 7 ? 12 : 14);
      this.srtp = backend.createSession({
        profile,
        localKey: new Uint8Array(keys.localKey),
        localSalt: new Uint8Array(keys.localSalt),
        remoteKey: new Uint8Array(keys.remoteKey),
        remoteSalt: new Uint8Array(keys.remoteSalt),
      });
      const connection = dtls.iceTransport.connection;
      connection.onData.subscribe((data) => this.receive(data));
      this.send = (data) => connection.send(data);
      this.ready.resolve();
    };
  }

  receive(data: Uint8Array): void {
    const first = data[0];
    if (first < 128 || first > 191 || !this.srtp) return;
    const pt = data[1] & 0x7f;
    if (pt >= 64 && pt <= 95) return; // RTCP (sender reports): not counted
    if (data.length > scratch.length) return;
    const len = this.srtp.unprotectRtp(data, data.length, scratch);
    if (len < 0) {
      srtpErrors++;
      srtpErrorsByCode[len] = (srtpErrorsByCode[len] ?? 0) + 1;
      return;
    }
    const header = rtpHeaderLength(scratch, len);
    if (header < 0 || header + SEND_TIME_OFFSET + 8 > len) return;
    const sentMs = view.getFloat64(header + SEND_TIME_OFFSET, true);
    packets++;
    timeline.add(sentMs);
    if (sentMs >= windowFromMs) latency.record(epochMs() - sentMs);
  }

  /** An empty receiver report (RFC 3550 §6.4.2): enough to show the peer is alive. */
  sendReceiverReport(): void {
    if (!this.srtp || !this.send || closed.has(this)) return;
    const rr = new Uint8Array(8 + 20);
    rr.set([0x80, 201, 0, 1]);
    new DataView(rr.buffer).setUint32(4, this.ssrc);
    const out = new Uint8Array(rr.length + 32);
    const n = this.srtp.protectRtcp(rr, 8, out);
    if (n > 0) void this.send(out.slice(0, n)).catch(() => {});
  }

  async close(): Promise<void> {
    if (closed.has(this)) return;
    closed.add(this);
    if (this.resource) {
      await fetch(this.resource, { method: "DELETE", signal: AbortSignal.timeout(3000) }).then((
        r,
      ) => r.body?.cancel()).catch(() => {});
    }
    this.srtp?.close();
    await this.pc.close().catch(() => {});
  }
}

const viewers: Viewer[] = [];
const closed = new WeakSet<Viewer>();
let windowFromMs = Infinity;

/** Connects one viewer; werift's DTLS sometimes fails under load: retry a few times. */
async function addViewer(
  url: string,
  kinds: string[],
  rid?: string,
  attempts = 6,
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const viewer = new Viewer();
    try {
      for (const kind of kinds) {
        viewer.pc.addTransceiver(kind as "audio" | "video", { direction: "recvonly" });
      }
      viewer.resource = await negotiate(viewer.pc, url, undefined, () => viewer.hook());
      await Promise.all([connected(viewer.pc), viewer.ready.promise]);
      if (rid !== undefined) await pinLayer(viewer.resource, kinds.indexOf("video"), rid);
      viewers.push(viewer);
      return;
    } catch (error) {
      await viewer.close();
      if (attempt >= attempts) throw error;
      console.error(`viewer attempt ${attempt} failed (${error}); retrying`);
      retries++;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** Pins the video m-line to simulcast layer `rid` (WHEP layer extension). */
async function pinLayer(resource: string, mediaIndex: number, rid: string): Promise<void> {
  const response = await fetch(`${resource}/layer`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mediaId: String(mediaIndex), rid }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`layer ${rid} → ${response.status}: ${body}`);
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.cmd) {
    case "add": {
      const url = `${command.url}/whep/${command.stream}`;
      const kinds = (command.kinds as string[] | undefined) ?? ["video", "audio"];
      const count = Number(command.count ?? 1);
      let failed = 0;
      let lastError = "";
      // Two handshakes at a time: werift's pure-JS DTLS fails under large bursts.
      for (let i = 0; i < count; i += 2) {
        const results = await Promise.allSettled(
          Array.from(
            { length: Math.min(2, count - i) },
            () => addViewer(url, kinds, command.rid as string | undefined),
          ),
        );
        for (const r of results) {
          if (r.status === "rejected") {
            failed++;
            lastError = String(r.reason);
          }
        }
      }
      return { viewers: viewers.length, retries, failed, lastError };
    }
    case "window":
      latency.reset();
      windowFromMs = epochMs();
      return { fromMs: windowFromMs };
    case "report": {
      const from = Number(command.fromMs), to = Number(command.toMs);
      return {
        received: timeline.sum(from, to),
        latency: latency.toSparse(),
        viewers: viewers.length,
        srtpErrors,
        srtpErrorsByCode,
        packets,
      };
    }
    case "series":
      return { series: timeline.series(Number(command.fromMs), Number(command.toMs)) };
    case "remove": {
      const count = Math.min(Number(command.count ?? 1), viewers.length);
      await Promise.all(viewers.splice(viewers.length - count, count).map((v) => v.close()));
      return { viewers: viewers.length };
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const pruner = setInterval(() => timeline.prune(epochMs() - 120_000), 10_000);
const reports = setInterval(() => {
  for (const v of viewers) v.sendReceiverReport();
}, 1000);
await serveCommands(handle);
clearInterval(pruner);
clearInterval(reports);
await Promise.all(viewers.map((v) => v.close()));
await stun.close();
Deno.exit(0);
