/**
 * Offer → plan → answer, for WHIP (publish) and WHEP (play).
 *
 * The plan records what Quetzal accepted per m-line: the one codec, the extension IDs the peer
 * uses, the rids. The answer's media sections are written from the plan; only the transport
 * attributes (ICE credentials, fingerprint, candidates) come from werift.
 */
import { codecFromRtpmap, type CodecName } from "../rtp/codecs/codec.ts";
import { ExtensionUri } from "../rtp/header-extensions.ts";
import { defaultSource, type Source } from "../sfu/router-protocol.ts";
import {
  parseFmtp,
  type SdpCodec,
  type SdpExtmap,
  type SdpMedia,
  type SessionDescriptionInfo,
  simulcastRids,
} from "./sdp.ts";

/** A request Quetzal understood but will not serve (→ 422). */
export class UnsupportedOfferError extends Error {
  override name = "UnsupportedOfferError";
}

/** A malformed offer (→ 400). */
export class InvalidOfferError extends Error {
  override name = "InvalidOfferError";
}

/** What was accepted for one m-line. */
export interface TrackPlan {
  /** Index of the m-line in the offer. */
  index: number;
  mid: string;
  kind: "audio" | "video";
  codec: SdpCodec;
  codecName: CodecName;
  /** rtcp-fb values accepted for this codec. */
  rtcpFb: string[];
  /** Header extensions accepted, in the offerer's IDs. */
  extmaps: SdpExtmap[];
  /** Simulcast rids, in offer order; empty without simulcast. */
  rids: string[];
  /** SSRCs signalled by the offerer (may be empty: learnt from packets). */
  ssrcs: number[];
  /** What the track carries (publish: from the policy's map, else by kind). */
  source: Source;
}

/** An m-line answered `inactive` (kind absent on the other side) or rejected. */
export interface InactivePlan {
  index: number;
  mid: string;
  kind: string;
  reason: "no-source" | "rejected";
}

export interface OfferPlan {
  tracks: TrackPlan[];
  inactive: InactivePlan[];
  /** Whether the offer contained an `a=rtcp-rsize`. */
  rtcpRsize: boolean;
}

/** Codecs Quetzal forwards, in default preference order. */
export const FORWARDABLE: readonly CodecName[] = ["opus", "h264", "vp8", "vp9", "av1", "h265"];

const PUBLISH_EXTENSIONS = new Set<string>([
  ExtensionUri.mid,
  ExtensionUri.rid,
  ExtensionUri.rrid,
  ExtensionUri.transportWideCc,
  ExtensionUri.absSendTime,
  ExtensionUri.audioLevel,
  ExtensionUri.dependencyDescriptor,
]);

const PLAY_EXTENSIONS = new Set<string>([
  ExtensionUri.mid,
  ExtensionUri.transportWideCc,
  ExtensionUri.absSendTime,
  ExtensionUri.audioLevel,
  ExtensionUri.dependencyDescriptor,
]);

const ACCEPTED_FEEDBACK = ["nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"];

/** What a publish offer may carry: WHIP's one track per kind, or a room participant's sources. */
export interface PublishPolicy {
  /** Tracks of one kind allowed in one offer. */
  maxPerKind: number;
  /** What each m-line carries, by mid (rooms); absent: microphone for audio, camera for video. */
  sources?: Readonly<Record<string, Source>>;
  /**
   * A room participant's re-offers: an m-line that no longer sends (a stopped screen share,
   * `recvonly` or `inactive`) is answered inactive and kept, not refused, and an offer that
   * publishes nothing at the moment is valid.
   */
  idleInactive?: boolean;
}

/** WHIP: one audio and one video track (RFC 9725 leaves more to the server; OBS sends these). */
export const WHIP_POLICY: PublishPolicy = { maxPerKind: 1 };

const SOURCE_KIND: Record<Source, "audio" | "video"> = {
  microphone: "audio",
  screenAudio: "audio",
  camera: "video",
  screen: "video",
};

/** Checks a publish offer and decides what to accept; throws Unsupported/InvalidOfferError. */
export function planPublish(
  offer: SessionDescriptionInfo,
  policy: PublishPolicy = WHIP_POLICY,
): OfferPlan {
  const plan: OfferPlan = { tracks: [], inactive: [], rtcpRsize: false };
  const seen = { audio: 0, video: 0 };
  const sourcesSeen = new Set<Source>();
  for (const [index, media] of offer.media.entries()) {
    const mid = requireMid(media, index);
    if (media.kind !== "audio" && media.kind !== "video") {
      throw new UnsupportedOfferError(
        `m-line ${index} is "${media.kind}": WHIP carries only audio and video`,
      );
    }
    if (media.port === 0 && !media.bundleOnly) {
      plan.inactive.push({ index, mid, kind: media.kind, reason: "rejected" });
      continue;
    }
    if (
      policy.idleInactive && (media.direction === "recvonly" || media.direction === "inactive")
    ) {
      plan.inactive.push({ index, mid, kind: media.kind, reason: "no-source" });
      continue;
    }
    if (media.direction === "recvonly" || media.direction === "inactive") {
      throw new UnsupportedOfferError(
        `m-line ${index} (${media.kind}) is ${media.direction}: a WHIP offer must send media (sendonly)`,
      );
    }
    seen[media.kind]++;
    if (seen[media.kind] > policy.maxPerKind) {
      throw new UnsupportedOfferError(
        policy.maxPerKind === 1
          ? `the offer has more than one ${media.kind} track; WHIP allows one audio and one video track`
          : `the offer has more than ${policy.maxPerKind} ${media.kind} tracks`,
      );
    }
    const source = policy.sources ? policy.sources[mid] : defaultSource(media.kind);
    if (source === undefined) {
      throw new InvalidOfferError(`m-line ${index} (mid "${mid}") has no source in the request`);
    }
    if (SOURCE_KIND[source] !== media.kind) {
      throw new InvalidOfferError(
        `m-line ${index} (mid "${mid}") is ${media.kind} but its source is "${source}"`,
      );
    }
    if (sourcesSeen.has(source)) {
      throw new InvalidOfferError(`the offer publishes "${source}" twice`);
    }
    sourcesSeen.add(source);
    const codec = chooseCodec(media);
    if (!codec) {
      const offered = media.codecs.map((c) => c.name).filter(uniqueNonAux).join(", ") || "none";
      throw new UnsupportedOfferError(
        `no ${media.kind} codec Quetzal can forward in m-line ${index} (offered: ${offered}; ` +
          `supported: Opus, H264 packetization-mode=1, VP8, VP9, AV1, H265)`,
      );
    }
    plan.rtcpRsize ||= media.attributes.includes("rtcp-rsize");
    const rids = media.rids.filter((r) => r.direction === "send").map((r) => r.id);
    const ordered = simulcastRids(media.simulcast).filter((r) => rids.includes(r));
    plan.tracks.push({
      index,
      mid,
      kind: media.kind,
      codec,
      codecName: codecFromRtpmap(codec.name)!,
      rtcpFb: acceptedFeedback(media, codec),
      extmaps: acceptedExtensions(media, PUBLISH_EXTENSIONS),
      rids: ordered.length > 0 ? [...ordered, ...rids.filter((r) => !ordered.includes(r))] : rids,
      ssrcs: media.ssrcs,
      source,
    });
  }
  if (plan.tracks.length === 0 && !policy.idleInactive) {
    throw new UnsupportedOfferError("the offer has no audio or video track to publish");
  }
  return plan;
}

/** What a viewer can be given: the publisher's codec per kind. */
export interface SourceTrack {
  kind: "audio" | "video";
  codec: SdpCodec;
  codecName: CodecName;
}

/** Checks a WHEP offer against the live source's tracks; throws Unsupported/InvalidOfferError. */
export function planPlay(offer: SessionDescriptionInfo, sources: SourceTrack[]): OfferPlan {
  const plan: OfferPlan = { tracks: [], inactive: [], rtcpRsize: false };
  const used = new Set<SourceTrack>();
  for (const [index, media] of offer.media.entries()) {
    const mid = requireMid(media, index);
    const source = sources.find((s) => s.kind === media.kind && !used.has(s));
    const foreign = media.kind !== "audio" && media.kind !== "video";
    if (
      (media.kind !== "audio" && media.kind !== "video") || !source ||
      (media.port === 0 && !media.bundleOnly)
    ) {
      // Data channels and the like are rejected (port 0, outside BUNDLE: browsers refuse a
      // BUNDLE group naming a rejected m-line, RFC 8843 §7.3.3); a kind the stream lacks
      // stays bundled but inactive, so the player's transceiver survives.
      const reason = foreign || source || media.port === 0 && !media.bundleOnly
        ? "rejected"
        : "no-source";
      plan.inactive.push({ index, mid, kind: media.kind, reason });
      continue;
    }
    if (media.direction === "sendonly" || media.direction === "inactive") {
      throw new UnsupportedOfferError(
        `m-line ${index} (${media.kind}) is ${media.direction}: a WHEP offer must receive media (recvonly)`,
      );
    }
    const codec = matchCodec(media, source);
    if (!codec) {
      throw new UnsupportedOfferError(
        `the stream's ${media.kind} codec is ${
          describeCodec(source)
        }, which this player did not offer`,
      );
    }
    used.add(source);
    plan.rtcpRsize ||= media.attributes.includes("rtcp-rsize");
    plan.tracks.push({
      index,
      mid,
      kind: media.kind,
      codec,
      codecName: source.codecName,
      rtcpFb: acceptedFeedback(media, codec),
      extmaps: acceptedExtensions(media, PLAY_EXTENSIONS),
      rids: [],
      ssrcs: media.ssrcs,
      source: defaultSource(media.kind),
    });
  }
  dropClashingExtensions(plan.tracks);
  if (plan.tracks.length === 0) {
    throw new UnsupportedOfferError(
      `the offer has no audio or video m-line for this stream (it carries ${
        sources.map((s) => s.kind).join(" and ")
      })`,
    );
  }
  return plan;
}

function requireMid(media: SdpMedia, index: number): string {
  if (media.mid === undefined || media.mid === "") {
    throw new InvalidOfferError(`m-line ${index} has no a=mid (BUNDLE requires one, RFC 8843)`);
  }
  return media.mid;
}

function uniqueNonAux(name: string, i: number, all: string[]): boolean {
  // An fmtp or rtcp-fb line without its rtpmap leaves a nameless entry: not an offered codec.
  return name !== "" && all.indexOf(name) === i && !isAuxiliary(name);
}

function isAuxiliary(name: string): boolean {
  return ["rtx", "red", "ulpfec", "flexfec-03", "cn", "telephone-event"].includes(
    name.toLowerCase(),
  );
}

/** H264 is matched on packetization-mode 1 only: OBS labels High streams 42e01f. */
function forwardable(codec: SdpCodec, kind: string): boolean {
  const name = codecFromRtpmap(codec.name);
  if (!name || !FORWARDABLE.includes(name)) return false;
  if ((name === "opus") !== (kind === "audio")) return false;
  if (name === "h264") return parseFmtp(codec.fmtp).get("packetization-mode") === "1";
  return true;
}

/** The publisher's first forwardable codec, in its own preference order (m-line order). */
function chooseCodec(media: SdpMedia): SdpCodec | undefined {
  for (const format of media.formats) {
    const codec = media.codecs.find((c) => String(c.payloadType) === format);
    if (codec && codec.clockRate > 0 && forwardable(codec, media.kind)) return codec;
  }
  return undefined;
}

/** The viewer's codec equal to the source's; for H264 the same profile when offered. */
function matchCodec(media: SdpMedia, source: SourceTrack): SdpCodec | undefined {
  const candidates = media.formats
    .map((f) => media.codecs.find((c) => String(c.payloadType) === f))
    .filter((c): c is SdpCodec =>
      c !== undefined && codecFromRtpmap(c.name) === source.codecName &&
      c.clockRate === source.codec.clockRate && forwardable(c, media.kind)
    );
  if (source.codecName === "h264") {
    const want = profileOf(source.codec);
    return candidates.find((c) => profileOf(c) === want) ?? candidates[0];
  }
  if (source.codecName === "vp9") {
    const want = parseFmtp(source.codec.fmtp).get("profile-id") ?? "0";
    return candidates.find((c) => (parseFmtp(c.fmtp).get("profile-id") ?? "0") === want);
  }
  return candidates[0];
}

/** H264 profile_idc + constraint flags (the first 4 hex digits of profile-level-id). */
function profileOf(codec: SdpCodec): string {
  return (parseFmtp(codec.fmtp).get("profile-level-id") ?? "42e01f").slice(0, 4).toLowerCase();
}

function describeCodec(source: SourceTrack): string {
  const base = `${source.codec.name}/${source.codec.clockRate}`;
  return source.codecName === "h264" ? `${base} (packetization-mode=1)` : base;
}

function acceptedFeedback(media: SdpMedia, codec: SdpCodec): string[] {
  const wildcard = media.attributes
    .filter((a) => a.startsWith("rtcp-fb-wildcard "))
    .map((a) => a.slice("rtcp-fb-wildcard ".length));
  return [...new Set([...codec.rtcpFb, ...wildcard])].filter((fb) =>
    ACCEPTED_FEEDBACK.includes(fb)
  );
}

/**
 * One ID must name one extension across a BUNDLE group (RFC 8843 §9.2). aiortc 1.4 offers id 2
 * as abs-send-time on video and audio-level on audio, then parses every packet of the
 * transport with one map: a 1-byte audio level where it expects 3 bytes stops its receiver.
 * A viewer gets the first m-line's meaning; later m-lines lose the clashing extension.
 */
function dropClashingExtensions(tracks: TrackPlan[]): void {
  const uriById = new Map<number, string>();
  for (const track of tracks) {
    track.extmaps = track.extmaps.filter((e) => {
      const taken = uriById.get(e.id);
      if (taken !== undefined && taken !== e.uri) return false;
      uriById.set(e.id, e.uri);
      return true;
    });
  }
}

function acceptedExtensions(media: SdpMedia, allowed: Set<string>): SdpExtmap[] {
  const seen = new Set<number>();
  return media.extmaps.filter((e) => {
    if (!allowed.has(e.uri) || seen.has(e.id)) return false;
    seen.add(e.id);
    return true;
  });
}

/** Transport attributes of Quetzal's side, taken from werift. */
export interface LocalTransport {
  iceUfrag: string;
  icePwd: string;
  /** "sha-256 AB:CD:…" */
  fingerprint: string;
  /**
   * Our DTLS role as werift settled it (RFC 5763 §5): "active" answers an actpass offer;
   * "actpass" when we offer (the answerer picks).
   */
  setup: "active" | "passive" | "actpass";
  /** Candidate attribute values (without "a="). */
  candidates: string[];
  /** The address and port written in c= and m= lines. */
  address: string;
  port: number;
}

/** Transport attributes of the peer's answer to an offer of ours. */
export interface RemoteTransport {
  iceUfrag: string;
  icePwd: string;
  /** "sha-256 AB:CD:…" */
  fingerprint: string;
  /** The answerer's DTLS role (RFC 5763 §5): "active" makes us the DTLS server. */
  setup: "active" | "passive";
  /** Candidate attribute values (without "a="); may be empty (ICE-lite learns the address). */
  candidates: string[];
}

/** Per-track details the answer needs from the SFU (viewer SSRCs and stream ids). */
export interface AnswerTrackExtras {
  /** Outbound SSRC (play only). */
  ssrc?: number;
  cname?: string;
  /** MediaStream id and track id for a=msid (play only). */
  msid?: string;
  /** Added to the video fmtp (publish): e.g. "x-google-start-bitrate=2500". */
  fmtpSuffix?: string;
}

/**
 * Writes the answer. `role` is "publish" (we receive: recvonly, rid recv, simulcast recv) or
 * "play" (we send: sendonly, one SSRC per track).
 */
export function buildAnswer(
  offer: SessionDescriptionInfo,
  plan: OfferPlan,
  local: LocalTransport,
  role: "publish" | "play",
  extras: (track: TrackPlan) => AnswerTrackExtras = () => ({}),
): string {
  const sessionId = BigInt.asUintN(
    62,
    BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)),
  );
  const bundled = offer.media
    .map((m, i) => ({ m, i }))
    .filter(({ i }) =>
      plan.tracks.some((t) => t.index === i) ||
      plan.inactive.some((t) => t.index === i && t.reason === "no-source")
    )
    .map(({ m }) => m.mid!);
  const lines = [
    "v=0",
    `o=quetzal ${sessionId} 2 IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    `a=group:BUNDLE ${bundled.join(" ")}`,
    "a=ice-lite",
    "a=msid-semantic: WMS *",
  ];
  // RFC 8285 §6: two-byte header extensions may be mixed in. A dependency descriptor with its
  // template structure is longer than the one-byte form's 16 bytes, and Chromium sends no
  // descriptor at all unless the answer allows this.
  const mixed = "extmap-allow-mixed";
  if (offer.attributes.includes(mixed) || offer.media.some((m) => m.attributes.includes(mixed))) {
    lines.push(`a=${mixed}`);
  }
  for (const [index, media] of offer.media.entries()) {
    const track = plan.tracks.find((t) => t.index === index);
    const inactive = plan.inactive.find((t) => t.index === index);
    const proto = media.protocol;
    if (!track) {
      const rejected = inactive?.reason === "rejected" ||
        (media.kind !== "audio" && media.kind !== "video");
      const fmt = media.formats[0] ?? "0";
      lines.push(`m=${media.kind} ${rejected ? 0 : local.port} ${proto} ${fmt}`);
      lines.push(`c=IN IP4 ${local.address}`);
      if (media.mid !== undefined) lines.push(`a=mid:${media.mid}`);
      if (!rejected) {
        pushTransport(lines, local, true);
        const codec = media.codecs.find((c) => String(c.payloadType) === fmt);
        if (codec) {
          lines.push(
            `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${
              codec.channels ? `/${codec.channels}` : ""
            }`,
          );
        }
      }
      lines.push("a=inactive");
      continue;
    }
    const codec = track.codec;
    const extra = extras(track);
    lines.push(`m=${media.kind} ${local.port} ${proto} ${codec.payloadType}`);
    lines.push(`c=IN IP4 ${local.address}`);
    lines.push(`a=mid:${track.mid}`);
    pushTransport(lines, local, true);
    lines.push(role === "publish" ? "a=recvonly" : "a=sendonly");
    if (plan.rtcpRsize) lines.push("a=rtcp-rsize");
    for (const ext of track.extmaps) lines.push(`a=extmap:${ext.id} ${ext.uri}`);
    lines.push(
      `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${
        codec.channels ? `/${codec.channels}` : ""
      }`,
    );
    const fmtp = [codec.fmtp, extra.fmtpSuffix].filter(Boolean).join(";");
    if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    for (const fb of track.rtcpFb) lines.push(`a=rtcp-fb:${codec.payloadType} ${fb}`);
    if (role === "publish" && track.rids.length > 0) {
      for (const rid of track.rids) lines.push(`a=rid:${rid} recv`);
      // Every offered rid, ";"-separated: OBS aborts unless all layers are accepted.
      lines.push(`a=simulcast:recv ${track.rids.join(";")}`);
    }
    if (role === "play" && extra.ssrc !== undefined) {
      if (extra.msid) lines.push(`a=msid:${extra.msid}`);
      lines.push(`a=ssrc:${extra.ssrc} cname:${extra.cname ?? "quetzal"}`);
      if (extra.msid) lines.push(`a=ssrc:${extra.ssrc} msid:${extra.msid}`);
    }
  }
  return lines.join("\r\n") + "\r\n";
}

function pushTransport(lines: string[], local: LocalTransport, withCandidates: boolean): void {
  lines.push(`a=ice-ufrag:${local.iceUfrag}`);
  lines.push(`a=ice-pwd:${local.icePwd}`);
  lines.push(`a=fingerprint:${local.fingerprint}`);
  lines.push(`a=setup:${local.setup}`);
  lines.push("a=rtcp-mux");
  if (withCandidates) {
    for (const candidate of local.candidates) lines.push(`a=${candidate}`);
    lines.push("a=end-of-candidates");
  }
}

/**
 * A copy of the offer that werift can digest: transport attributes moved into every m-line,
 * `bundle-only` m-lines given a port, one codec per accepted m-line, no rid/simulcast/extmap
 * (werift's media plane is unused, so it needs none of them).
 */
export function normaliseOfferForWerift(offer: SessionDescriptionInfo, plan: OfferPlan): string {
  const lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"];
  const mids = plan.tracks.map((t) => t.mid);
  lines.push(`a=group:BUNDLE ${mids.join(" ")}`);
  for (const track of plan.tracks) {
    const media = offer.media[track.index];
    const codec = track.codec;
    lines.push(`m=${media.kind} 9 UDP/TLS/RTP/SAVPF ${codec.payloadType}`);
    lines.push("c=IN IP4 0.0.0.0");
    lines.push(`a=mid:${track.mid}`);
    if (media.iceUfrag) lines.push(`a=ice-ufrag:${media.iceUfrag}`);
    if (media.icePwd) lines.push(`a=ice-pwd:${media.icePwd}`);
    if (media.fingerprint) lines.push(`a=fingerprint:${media.fingerprint}`);
    lines.push(`a=setup:${media.setup ?? "actpass"}`);
    lines.push(`a=${media.direction}`);
    lines.push("a=rtcp-mux");
    lines.push(
      `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${
        codec.channels ? `/${codec.channels}` : ""
      }`,
    );
    if (codec.fmtp) lines.push(`a=fmtp:${codec.payloadType} ${codec.fmtp}`);
  }
  return lines.join("\r\n") + "\r\n";
}

/** Transport-level checks shared by WHIP and WHEP. */
export function requireTransport(offer: SessionDescriptionInfo, plan: OfferPlan): void {
  const first = offer.media[plan.tracks[0].index];
  if (!first.iceUfrag || !first.icePwd) {
    throw new InvalidOfferError("the offer has no a=ice-ufrag/a=ice-pwd");
  }
  if (!first.fingerprint) {
    throw new InvalidOfferError("the offer has no a=fingerprint (DTLS is required)");
  }
  if (!/^UDP\/TLS\/RTP\/SAVPF$/i.test(first.protocol)) {
    throw new UnsupportedOfferError(
      `m-line protocol "${first.protocol}" is not supported; use UDP/TLS/RTP/SAVPF`,
    );
  }
}
