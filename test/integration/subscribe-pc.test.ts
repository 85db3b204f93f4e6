/**
 * A subscribe connection the server offers (rooms.md §5), over real ICE, DTLS and SRTP on
 * 127.0.0.1: werift's ICE-lite transport with Quetzal's own offers, a werift client answering,
 * Consumers forwarding synthetic producers into the slots, then a re-offer adding m-lines.
 */
import { assert, assertEquals, assertGreater, assertRejects } from "@std/assert";
import type { RTCPeerConnection, RTCRtpTransceiver } from "werift";
import { ExtensionMap } from "../../src/rtp/header-extensions.ts";
import { InboundPacket } from "../../src/rtp/inbound-packet.ts";
import type { CodecName } from "../../src/rtp/codecs/codec.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { buildPacket, vp8 } from "../support/packets.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { SubscribeRig } from "../support/subscribe-rig.ts";
import {
  answerOffer,
  createPeer,
  H264,
  settleWeriftTimers,
  VP8,
  waitFor,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the test so the resource sanitizer does not count it.
loadLibsrtp();

/** What the client received on one m-line. */
interface Received {
  ssrcs: Set<number>;
  payloadTypes: Set<number>;
  /** Tag (4 bytes at offset 24) → payload bytes, first copy only. */
  payloads: Map<number, Uint8Array>;
  packets: number;
}

/**
 * Records, per mid, the packets werift delivers to each transceiver's track. Call before the
 * offer is applied: werift fires `onTrack` while applying it.
 */
function recordByMid(pc: RTCPeerConnection, received: Map<string, Received>): void {
  const entryOf = (mid: string) => {
    let entry = received.get(mid);
    if (!entry) {
      entry = { ssrcs: new Set(), payloadTypes: new Set(), payloads: new Map(), packets: 0 };
      received.set(mid, entry);
    }
    return entry;
  };
  pc.onTransceiverAdded.subscribe((t: RTCRtpTransceiver) => {
    t.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const entry = entryOf(t.mid ?? "?");
        entry.packets++;
        entry.ssrcs.add(rtp.header.ssrc);
        entry.payloadTypes.add(rtp.header.payloadType);
        const p = new Uint8Array(rtp.payload);
        const tag = tagOf(p);
        if (!entry.payloads.has(tag)) entry.payloads.set(tag, p);
      });
    });
  });
}

const TAG_AT = 24;
function tagOf(payload: Uint8Array): number {
  if (payload.length < TAG_AT + 4) return -1;
  return new DataView(payload.buffer, payload.byteOffset).getUint32(TAG_AT);
}

/** The payload a synthetic producer sends for packet `n`: codec header, then tag and filler. */
function payloadOf(codec: CodecName, n: number, keyframe: boolean): Uint8Array {
  let out: Uint8Array;
  if (codec === "vp8") out = vp8(keyframe, 300);
  else {
    out = new Uint8Array(300);
    // H.264 (RFC 6184): an SPS NAL unit starts a key frame for Quetzal; else a non-IDR slice.
    out[0] = keyframe ? 0x67 : 0x41;
  }
  if (codec === "opus") out = new Uint8Array(120);
  new DataView(out.buffer).setUint32(TAG_AT, n);
  for (let i = TAG_AT + 4; i < out.length; i++) out[i] = (n + i) & 0xff;
  return out;
}

/** A producer fed with synthetic packets, one per `send()` (video: one-packet frames). */
class SyntheticSource {
  readonly producer: Producer;
  readonly sent = new Map<number, Uint8Array>();
  keyframeRequests = 0;
  #n = 0;
  readonly #pkt = new InboundPacket();
  readonly #map = new ExtensionMap();

  constructor(readonly codec: CodecName, readonly ssrc: number, readonly tagBase: number) {
    this.producer = new Producer({
      kind: codec === "opus" ? "audio" : "video",
      mid: String(ssrc),
      codecName: codec,
      payloadType: codec === "opus" ? 109 : codec === "vp8" ? 97 : 125,
      clockRate: codec === "opus" ? 48000 : 90000,
      rids: [],
      extensions: this.#map,
      requestKeyframe: () => this.keyframeRequests++,
      keyframeThrottleMs: 0,
    });
  }

  send(): void {
    const n = this.#n++;
    const tag = this.tagBase + n;
    // A key frame every 10 frames: a consumer that joins waits for one.
    const payload = payloadOf(this.codec, tag, n % 10 === 0);
    this.sent.set(tag, payload);
    const bytes = buildPacket({
      payloadType: this.producer.payloadType,
      seq: 1000 + n,
      ts: n * (this.codec === "opus" ? 960 : 3000),
      ssrc: this.ssrc,
      marker: this.codec !== "opus",
      payload,
    });
    this.#pkt.parse(bytes, bytes.length, this.#map);
    this.#pkt.arrivalMs = performance.now();
    this.producer.onPacket(this.#pkt);
  }
}

async function feed(sources: SyntheticSource[], rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    for (const s of sources) s.send();
    if (i % 5 === 4) await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every packet received on `mid` carries exactly the payload its source sent under that tag. */
function assertPayloadsIntact(got: Received, source: SyntheticSource, mid: string): void {
  let checked = 0;
  for (const [tag, payload] of got.payloads) {
    const sent = source.sent.get(tag);
    assert(sent, `${mid}: tag ${tag} was never sent by this source`);
    assertEquals(payload, sent, `${mid}: payload of tag ${tag}`);
    checked++;
  }
  assertGreater(checked, 0, `${mid}: no payload checked`);
}

Deno.test("server-offered subscribe connection: 3 audio + 2 video slots, then a re-offer", async () => {
  const stun = await startStunStub();
  const rig = await SubscribeRig.create(3, 2);
  const client = createPeer({ stunUrl: stun.url, video: [VP8, H264] });
  const dtlsStates: string[] = [];
  try {
    const received = new Map<string, Received>();
    const offer1 = rig.offer();
    recordByMid(client, received);
    const answer1 = await answerOffer(client, offer1);
    const accepted1 = await rig.accept(answer1);
    assertEquals(accepted1.tracks.map((t) => t.mid), ["a0", "a1", "a2", "v0", "v1"]);
    assertEquals(accepted1.transport.setup, "active", "werift answers actpass with active");
    assert(accepted1.tracks.every((t) => t.direction === "recvonly"));
    await waitFor(
      () => rig.peer.connected && client.connectionState === "connected",
      10_000,
      "both sides connected",
    );
    // From here on, any DTLS state change would be a new handshake.
    client.dtlsTransports[0].onStateChange.subscribe((s) => dtlsStates.push(s));

    const audio = new SyntheticSource("opus", 0x1111, 1_000_000);
    const vp8Source = new SyntheticSource("vp8", 0x2222, 2_000_000);
    const h264Source = new SyntheticSource("h264", 0x3333, 3_000_000);
    rig.bind("a0", audio.producer);
    rig.bind("a2", audio.producer);
    rig.bind("v0", vp8Source.producer);
    rig.bind("v1", h264Source.producer);
    const sources = [audio, vp8Source, h264Source];
    await feed(sources, 60);
    await waitFor(
      () => ["a0", "a2", "v0", "v1"].every((mid) => (received.get(mid)?.packets ?? 0) >= 20),
      10_000,
      "media on a0, a2, v0 and v1",
    );
    const ssrcOf = (mid: string) => rig.description.slots.find((s) => s.mid === mid)!.ssrc;
    const ptOf = (mid: string, codec: CodecName) =>
      rig.answer!.tracks.find((t) => t.mid === mid)!.codecs.find((c) => c.codecName === codec)!
        .payloadType;
    for (
      const [mid, source] of [["a0", audio], ["a2", audio], ["v0", vp8Source], [
        "v1",
        h264Source,
      ]] as const
    ) {
      const got = received.get(mid)!;
      assertEquals([...got.ssrcs], [ssrcOf(mid)], `${mid}: the slot's SSRC`);
      assertEquals([...got.payloadTypes], [ptOf(mid, source.codec)], `${mid}: the slot's PT`);
      assertPayloadsIntact(got, source, mid);
    }
    assertEquals(received.get("a1")?.packets ?? 0, 0, "an unbound slot carries nothing");
    assertEquals(ptOf("v1", "h264"), 102);

    // Re-offer (revision 2): two more video m-lines, the transport lines unchanged.
    const offer2 = rig.grow("video", 2);
    const t1 = parseSdp(offer1).media[0];
    const t2 = parseSdp(offer2).media[0];
    assertEquals([t2.iceUfrag, t2.icePwd, t2.fingerprint], [
      t1.iceUfrag,
      t1.icePwd,
      t1.fingerprint,
    ]);
    const answer2 = await answerOffer(client, offer2);
    const accepted2 = await rig.accept(answer2);
    assertEquals(accepted2.tracks.map((t) => t.mid), ["a0", "a1", "a2", "v0", "v1", "v2", "v3"]);
    rig.bind("v2", vp8Source.producer);
    const before = new Map([...received].map(([mid, r]) => [mid, r.packets]));
    await feed(sources, 60);
    await waitFor(
      () =>
        (received.get("v2")?.packets ?? 0) >= 20 &&
        ["a0", "v0", "v1"].every((mid) => received.get(mid)!.packets >= before.get(mid)! + 20),
      10_000,
      "media on the new m-line and the old ones",
    );
    const v2 = received.get("v2")!;
    assertEquals([...v2.ssrcs], [ssrcOf("v2")]);
    assertPayloadsIntact(v2, vp8Source, "v2");
    assertEquals([...received.get("v0")!.ssrcs], [ssrcOf("v0")], "v0 keeps its SSRC");
    assertEquals(received.get("v3")?.packets ?? 0, 0);

    // A later answer that would need a new transport is refused (werift is not asked again).
    const t = accepted2.transport;
    await assertRejects(
      () => rig.peer.acceptAnswer({ ...t, fingerprint: t.fingerprint.replace(/..$/, "00") }),
      Error,
      "fingerprint",
    );
    await assertRejects(
      () => rig.peer.acceptAnswer({ ...t, setup: "passive" }),
      Error,
      "DTLS role",
    );
    await assertRejects(
      () => rig.peer.acceptAnswer({ ...t, iceUfrag: "other" }),
      Error,
      "ICE credentials",
    );

    // One DTLS handshake for the connection's life: no state change on the client since it
    // connected, and the server's transport connected once.
    assertEquals(dtlsStates, [], "the client's DTLS transport never changed state");
    assertEquals(rig.connects, 1, "one DTLS handshake");
    assertEquals(rig.failures, []);
    assertEquals(client.dtlsTransports.length, 1);
  } finally {
    await client.close();
    await rig.close();
    await stun.close();
    await settleWeriftTimers();
  }
});

Deno.test("server-offered subscribe connection: a client answering passive makes the server the DTLS client", async () => {
  const stun = await startStunStub();
  const rig = await SubscribeRig.create(1, 1);
  const client = createPeer({ stunUrl: stun.url });
  try {
    const received = new Map<string, Received>();
    recordByMid(client, received);
    const answer = await answerOffer(client, rig.offer(), { setup: "passive" });
    const accepted = await rig.accept(answer);
    assertEquals(accepted.transport.setup, "passive");
    assertEquals(client.dtlsTransports[0].role, "server", "the client is the DTLS server");
    await waitFor(
      () => rig.peer.connected && client.connectionState === "connected",
      10_000,
      "both sides connected",
    );
    const vp8Source = new SyntheticSource("vp8", 0x4444, 4_000_000);
    rig.bind("v0", vp8Source.producer);
    await feed([vp8Source], 40);
    await waitFor(() => (received.get("v0")?.packets ?? 0) >= 20, 10_000, "media on v0");
    assertPayloadsIntact(received.get("v0")!, vp8Source, "v0");
  } finally {
    await client.close();
    await rig.close();
    await stun.close();
    await settleWeriftTimers();
  }
});
