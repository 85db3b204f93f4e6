/**
 * WHEP viewers for the bench, many per process: werift negotiates (ICE, DTLS, key export) and
 * each SRTP datagram is then decrypted with Quetzal's SRTP backend and counted, not handed to
 * werift's media stack: a werift receive path costs ~40 µs per packet on Deno and would make
 * the load generator, not the server, the bottleneck on a small machine. Each packet's send
 * time (payload, see media-clock.ts) gives its one-way latency and its timeline bucket.
 *
 * Commands: add { url, stream, count, kinds }, window { }, report { fromMs, toMs },
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
    connection: { onData: { subscribe(fn: (data: Uint8Array) => void): unknown } };
  };
}

/** Shared by every viewer of this process: counts by send time, latency while windowed. */
const timeline = new Timeline();
const latency = new LatencyHistogram();
let srtpErrors = 0;
let packets = 0;
const scratch = new Uint8Array(2048);
const view = new DataView(scratch.buffer);

class Viewer {
  readonly pc: RTCPeerConnection;
  srtp: SrtpSession | undefined;
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
      dtls.iceTransport.connection.onData.subscribe((data) => this.receive(data));
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
      return;
    }
    const header = rtpHeaderLength(scratch, len);
    if (header < 0 || header + SEND_TIME_OFFSET + 8 > len) return;
    const sentMs = view.getFloat64(header + SEND_TIME_OFFSET, true);
    packets++;
    timeline.add(sentMs);
    if (sentMs >= windowFromMs) latency.record(epochMs() - sentMs);
  }

  async close(): Promise<void> {
    this.srtp?.close();
    await this.pc.close().catch(() => {});
  }
}

const viewers: Viewer[] = [];
let windowFromMs = Infinity;

async function addViewer(url: string, kinds: string[]): Promise<void> {
  const viewer = new Viewer();
  for (const kind of kinds) {
    viewer.pc.addTransceiver(kind as "audio" | "video", { direction: "recvonly" });
  }
  await negotiate(viewer.pc, url, undefined, () => viewer.hook());
  await Promise.all([connected(viewer.pc), viewer.ready.promise]);
  viewers.push(viewer);
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.cmd) {
    case "add": {
      const url = `${command.url}/whep/${command.stream}`;
      const kinds = (command.kinds as string[] | undefined) ?? ["video", "audio"];
      const count = Number(command.count ?? 1);
      // Two handshakes at a time: werift's pure-JS DTLS fails under large bursts.
      for (let i = 0; i < count; i += 2) {
        await Promise.all(
          Array.from({ length: Math.min(2, count - i) }, () => addViewer(url, kinds)),
        );
      }
      return { viewers: viewers.length };
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
await serveCommands(handle);
clearInterval(pruner);
await Promise.all(viewers.map((v) => v.close()));
await stun.close();
Deno.exit(0);
