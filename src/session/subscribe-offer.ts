/**
 * The server's offers for a subscribe connection (rooms.md §5: the server offers, the client
 * answers), written from a plain description.
 *
 * werift produced the transport lines once (`PeerTransport.createOffer`); every offer of the
 * connection, the first and each re-offer, is written here with those same lines, so werift
 * never sees one and ICE and DTLS are never restarted by a renegotiation. Since we offer, the
 * payload types and header extension IDs are ours, the same on every m-line of the BUNDLE
 * group (RFC 8843 §9.2), and the answer only accepts or drops them (subscribe-answer.ts).
 *
 * m-lines are slots: each keeps its mid, SSRC and msid for the connection's life and is never
 * removed; a slot no longer wanted is written `a=inactive` (RFC 3264 §8.2 forbids removing an
 * m-line, and keeping the SSRC keeps the browser's track).
 */
import type { CodecName } from "../rtp/codecs/codec.ts";
import { ExtensionUri } from "../rtp/header-extensions.ts";
import type { LocalTransport } from "./negotiation.ts";
import type { SdpCodec, SdpExtmap } from "./sdp.ts";

/** One m-line of a subscribe connection. */
export interface SubscribeSlot {
  /** `a0`, `a1`… for audio slots, `v0`, `v1`… for video. */
  mid: string;
  kind: "audio" | "video";
  /** Our sending SSRC, fixed for the slot's life (a=ssrc, RFC 5576). */
  ssrc: number;
  /** a=msid stream id and track id (RFC 8830), fixed for the slot's life. */
  streamId: string;
  trackId: string;
  /** "inactive" retires the slot; it is still written, never removed. */
  direction: "sendonly" | "inactive";
}

/** Everything one offer is written from; plain data (survives JSON and structuredClone). */
export interface SubscribeDescription {
  /** o= sess-id: fixed for the connection (RFC 8866 §5.2), decimal digits. */
  sessionId: string;
  /** o= sess-version: the offer's revision, one more with every offer (signalling `rev`). */
  revision: number;
  /** RTCP CNAME of every SSRC (RFC 7022). */
  cname: string;
  slots: SubscribeSlot[];
}

/** A codec we offer, with the name Quetzal's codec modules know it by. */
export interface OfferedCodec extends SdpCodec {
  codecName: CodecName;
}

/** The rtcp-fb Quetzal honours for video (viewer-session.ts reads NACK, PLI, FIR, TWCC, REMB). */
const VIDEO_FEEDBACK = ["nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"];

/**
 * Payload types as Chromium numbers them (fewer surprises when reading captures side by side).
 * Video m-lines offer every codec: any producer fits any m-line, and the answer says which the
 * client decodes. H.264 is constrained baseline with packetization-mode 1, what every browser
 * decodes (RFC 6184 §8.1).
 */
export const SUBSCRIBE_CODECS: { audio: OfferedCodec[]; video: OfferedCodec[] } = {
  audio: [{
    codecName: "opus",
    payloadType: 111,
    name: "opus",
    clockRate: 48000,
    channels: 2,
    fmtp: "minptime=10;useinbandfec=1",
    rtcpFb: ["transport-cc"],
  }],
  video: [
    {
      codecName: "vp8",
      payloadType: 96,
      name: "VP8",
      clockRate: 90000,
      fmtp: "",
      rtcpFb: VIDEO_FEEDBACK,
    },
    {
      codecName: "h264",
      payloadType: 102,
      name: "H264",
      clockRate: 90000,
      fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      rtcpFb: VIDEO_FEEDBACK,
    },
  ],
};

/**
 * The header extensions PacketRewriter writes, with our IDs: one ID means one extension across
 * the BUNDLE group (RFC 8843 §9.2). IDs ≤ 14 fit the one-byte form (RFC 8285 §4.2); a dependency
 * descriptor longer than 16 bytes goes two-byte, hence `a=extmap-allow-mixed` in every offer.
 */
export const SUBSCRIBE_EXTENSIONS: { audio: SdpExtmap[]; video: SdpExtmap[] } = {
  audio: [
    { id: 1, uri: ExtensionUri.mid },
    { id: 2, uri: ExtensionUri.absSendTime },
    { id: 3, uri: ExtensionUri.transportWideCc },
    { id: 4, uri: ExtensionUri.audioLevel },
  ],
  video: [
    { id: 1, uri: ExtensionUri.mid },
    { id: 2, uri: ExtensionUri.absSendTime },
    { id: 3, uri: ExtensionUri.transportWideCc },
    { id: 5, uri: ExtensionUri.dependencyDescriptor },
  ],
};

/**
 * Returns `slots` followed by `count` new ones of `kind`, numbered after the existing ones of
 * that kind, each with a fresh random SSRC unused in the connection.
 * @example let slots = addSlots([], "audio", 3); slots = addSlots(slots, "video", 4);
 */
export function addSlots(
  slots: readonly SubscribeSlot[],
  kind: "audio" | "video",
  count: number,
): SubscribeSlot[] {
  const prefix = kind === "audio" ? "a" : "v";
  const out = [...slots];
  const used = new Set(out.map((s) => s.ssrc));
  let next = out.filter((s) => s.kind === kind).length;
  for (let i = 0; i < count; i++, next++) {
    let ssrc = 0;
    while (ssrc === 0 || used.has(ssrc)) ssrc = crypto.getRandomValues(new Uint32Array(1))[0];
    used.add(ssrc);
    const mid = `${prefix}${next}`;
    out.push({ mid, kind, ssrc, streamId: `q-${mid}`, trackId: mid, direction: "sendonly" });
  }
  return out;
}

/** A fresh description: `audio` slots and `video` slots, revision 1. */
export function newSubscribeDescription(audio: number, video: number): SubscribeDescription {
  const sessionId = BigInt.asUintN(
    62,
    BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)),
  );
  return {
    sessionId: String(sessionId),
    revision: 1,
    cname: `quetzal-${crypto.randomUUID().slice(0, 8)}`,
    slots: addSlots(addSlots([], "audio", audio), "video", video),
  };
}

/** Writes the offer for `description` with the connection's transport lines. */
export function writeSubscribeOffer(
  description: SubscribeDescription,
  local: LocalTransport,
): string {
  const { slots } = description;
  if (slots.length === 0) throw new Error("a subscribe offer needs at least one m-line");
  const mids = new Set(slots.map((s) => s.mid));
  if (mids.size !== slots.length) throw new Error("two subscribe slots share a mid");
  const lines = [
    "v=0",
    `o=quetzal ${description.sessionId} ${description.revision} IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    // Every slot stays in the group, inactive ones too: they keep the shared transport.
    `a=group:BUNDLE ${slots.map((s) => s.mid).join(" ")}`,
    "a=ice-lite",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS *",
  ];
  for (const slot of slots) {
    const codecs = SUBSCRIBE_CODECS[slot.kind];
    lines.push(
      `m=${slot.kind} ${local.port} UDP/TLS/RTP/SAVPF ${
        codecs.map((c) => c.payloadType).join(" ")
      }`,
    );
    lines.push(`c=IN IP4 ${local.address}`);
    lines.push(`a=mid:${slot.mid}`);
    lines.push(`a=ice-ufrag:${local.iceUfrag}`);
    lines.push(`a=ice-pwd:${local.icePwd}`);
    lines.push(`a=fingerprint:${local.fingerprint}`);
    // RFC 8842 §5.2: the offerer says actpass, in re-offers too; an answerer that keeps its
    // role (what the answer reader requires) keeps the DTLS association.
    lines.push("a=setup:actpass");
    for (const candidate of local.candidates) lines.push(`a=${candidate}`);
    lines.push("a=end-of-candidates");
    lines.push(`a=${slot.direction}`);
    lines.push("a=rtcp-mux");
    lines.push("a=rtcp-rsize");
    for (const ext of SUBSCRIBE_EXTENSIONS[slot.kind]) lines.push(`a=extmap:${ext.id} ${ext.uri}`);
    for (const codec of codecs) {
      lines.push(
        `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${
          codec.channels ? `/${codec.channels}` : ""
        }`,
      );
      if (codec.fmtp) lines.push(`a=fmtp:${codec.payloadType} ${codec.fmtp}`);
      for (const fb of codec.rtcpFb) lines.push(`a=rtcp-fb:${codec.payloadType} ${fb}`);
    }
    const msid = `${slot.streamId} ${slot.trackId}`;
    lines.push(`a=msid:${msid}`);
    lines.push(`a=ssrc:${slot.ssrc} cname:${description.cname}`);
    lines.push(`a=ssrc:${slot.ssrc} msid:${msid}`);
  }
  return lines.join("\r\n") + "\r\n";
}
