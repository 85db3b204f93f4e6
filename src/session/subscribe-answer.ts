/**
 * Reads the client's answer to a subscribe offer (subscribe-offer.ts): checks that it answers
 * that offer, m-line for m-line (RFC 3264 §6), and yields per m-line what a Consumer needs
 * (SSRC, payload type per codec, extension IDs, mid) plus the client's transport for
 * `PeerTransport.acceptAnswer`.
 */
import { codecFromRtpmap, type CodecName } from "../rtp/codecs/codec.ts";
import { ExtensionMap, ExtensionUri } from "../rtp/header-extensions.ts";
import type { RemoteTransport } from "./negotiation.ts";
import { parseFmtp, type SdpCodec, type SdpExtmap, type SessionDescriptionInfo } from "./sdp.ts";
import {
  type OfferedCodec,
  SUBSCRIBE_CODECS,
  SUBSCRIBE_EXTENSIONS,
  type SubscribeDescription,
} from "./subscribe-offer.ts";

/** An answer that does not answer our offer (→ 400 / `bad-request`); the message says why. */
export class InvalidAnswerError extends Error {
  override name = "InvalidAnswerError";
}

/** A codec the client accepted on one m-line. */
export interface AcceptedCodec {
  codecName: CodecName;
  /** Our payload type for it (the answer uses the offer's numbers, RFC 3264 §6.1). */
  payloadType: number;
  clockRate: number;
  /** rtcp-fb values both sides listed. */
  rtcpFb: string[];
}

/** What the answer settled for one m-line. */
export interface SubscribeTrack {
  /** Index of the m-line. */
  index: number;
  mid: string;
  kind: "audio" | "video";
  /** Our sending SSRC (from the slot). */
  ssrc: number;
  /** "inactive" for a retired slot: send nothing. */
  direction: "recvonly" | "inactive";
  /** Accepted codecs, the answerer's preference first; empty when inactive. */
  codecs: AcceptedCodec[];
  /** Accepted header extensions (our IDs). */
  extmaps: SdpExtmap[];
}

export interface SubscribeAnswer {
  /** The revision of the offer this answers. */
  revision: number;
  tracks: SubscribeTrack[];
  transport: RemoteTransport;
  /** Whether the answer kept `a=rtcp-rsize` (reduced-size RTCP may be sent, RFC 5506). */
  rtcpRsize: boolean;
}

/** What a Consumer of one m-line is created with (`ConsumerOptions` without producer and link). */
export interface SlotBinding {
  ssrc: number;
  payloadType: number;
  mid: string;
  mlineIndex: number;
  extensions: ExtensionMap;
}

/** Checks `answer` against the offer written from `offered`; throws InvalidAnswerError. */
export function readSubscribeAnswer(
  answer: SessionDescriptionInfo,
  offered: SubscribeDescription,
): SubscribeAnswer {
  const slots = offered.slots;
  if (answer.media.length !== slots.length) {
    throw new InvalidAnswerError(
      `the answer has ${answer.media.length} m-lines; offer ${offered.revision} has ${slots.length}`,
    );
  }
  const tracks: SubscribeTrack[] = [];
  let rtcpRsize = true;
  // RFC 8285 §6: without the answer's extmap-allow-mixed, only one-byte headers may be sent;
  // a dependency descriptor longer than 16 bytes needs two-byte ones, so it is not sent at all.
  const mixed = answer.attributes.includes("extmap-allow-mixed");
  for (const [index, slot] of slots.entries()) {
    const media = answer.media[index];
    const where = `m-line ${index} (${slot.mid})`;
    if (media.mid !== slot.mid || media.kind !== slot.kind) {
      throw new InvalidAnswerError(
        `${where}: the answer has ${media.kind} mid ${media.mid ?? "(none)"} in its place`,
      );
    }
    if (media.port === 0 && !media.bundleOnly) {
      throw new InvalidAnswerError(`${where} was rejected; a subscribe answer accepts every slot`);
    }
    if (slot.direction === "inactive") {
      tracks.push({ ...slotTrack(index, slot), direction: "inactive", codecs: [], extmaps: [] });
      continue;
    }
    if (media.direction !== "recvonly") {
      throw new InvalidAnswerError(
        `${where} is ${media.direction}; the answer to a sendonly m-line must be recvonly`,
      );
    }
    if (!answer.bundle.includes(slot.mid)) {
      throw new InvalidAnswerError(`${where} is not in the answer's BUNDLE group`);
    }
    const codecs = acceptedCodecs(media.formats, media.codecs, SUBSCRIBE_CODECS[slot.kind], where);
    rtcpRsize &&= media.attributes.includes("rtcp-rsize");
    tracks.push({
      ...slotTrack(index, slot),
      direction: "recvonly",
      codecs,
      extmaps: acceptedExtensions(media.extmaps, SUBSCRIBE_EXTENSIONS[slot.kind], where)
        .filter((e) =>
          mixed || media.attributes.includes("extmap-allow-mixed") ||
          e.uri !== ExtensionUri.dependencyDescriptor
        ),
    });
  }
  return { revision: offered.revision, tracks, transport: remoteTransport(answer), rtcpRsize };
}

/**
 * What a Consumer sending a `codecName` producer on `track` is created with, or undefined when
 * the client did not accept that codec there (or the slot is inactive).
 */
export function slotBinding(track: SubscribeTrack, codecName: CodecName): SlotBinding | undefined {
  const codec = track.codecs.find((c) => c.codecName === codecName);
  if (!codec || track.direction !== "recvonly") return undefined;
  return {
    ssrc: track.ssrc,
    payloadType: codec.payloadType,
    mid: track.mid,
    mlineIndex: track.index,
    extensions: ExtensionMap.fromExtmaps(track.extmaps),
  };
}

function slotTrack(
  index: number,
  slot: SubscribeDescription["slots"][number],
): Pick<SubscribeTrack, "index" | "mid" | "kind" | "ssrc"> {
  return { index, mid: slot.mid, kind: slot.kind, ssrc: slot.ssrc };
}

/** The answer's codecs in its order, each one we offered under the same payload type. */
function acceptedCodecs(
  formats: string[],
  codecs: SdpCodec[],
  offered: OfferedCodec[],
  where: string,
): AcceptedCodec[] {
  const accepted: AcceptedCodec[] = [];
  for (const format of formats) {
    const payloadType = Number(format);
    const ours = offered.find((c) => c.payloadType === payloadType);
    const theirs = codecs.find((c) => c.payloadType === payloadType);
    if (!ours) {
      throw new InvalidAnswerError(`${where}: payload type ${format} was not offered`);
    }
    if (theirs && theirs.name !== "" && !sameCodec(ours, theirs)) {
      throw new InvalidAnswerError(
        `${where}: payload type ${payloadType} is ${theirs.name}/${theirs.clockRate} in the ` +
          `answer but ${ours.name}/${ours.clockRate} in the offer`,
      );
    }
    accepted.push({
      codecName: ours.codecName,
      payloadType,
      clockRate: ours.clockRate,
      rtcpFb: theirs ? ours.rtcpFb.filter((fb) => theirs.rtcpFb.includes(fb)) : [],
    });
  }
  if (accepted.length === 0) {
    throw new InvalidAnswerError(`${where}: the answer accepts none of the offered codecs`);
  }
  return accepted;
}

function sameCodec(ours: OfferedCodec, theirs: SdpCodec): boolean {
  if (codecFromRtpmap(theirs.name) !== ours.codecName || theirs.clockRate !== ours.clockRate) {
    return false;
  }
  // H.264 must stay in packetization mode 1 (single NAL units are all Quetzal forwards as-is).
  if (ours.codecName === "h264") return parseFmtp(theirs.fmtp).get("packetization-mode") === "1";
  return true;
}

/** The answer's extensions: ours, under our IDs (RFC 8285 §6: the answer echoes the offer's). */
function acceptedExtensions(extmaps: SdpExtmap[], offered: SdpExtmap[], where: string) {
  return extmaps.map((e) => {
    const ours = offered.find((o) => o.id === e.id);
    if (!ours || ours.uri !== e.uri) {
      throw new InvalidAnswerError(
        `${where}: extension ${e.id} ${e.uri} was not offered under that ID`,
      );
    }
    return ours;
  });
}

/** The client's ICE credentials, fingerprint, DTLS role and candidates (first bundled m-line). */
function remoteTransport(answer: SessionDescriptionInfo): RemoteTransport {
  const media = answer.media.find((m) => m.port !== 0) ?? answer.media[0];
  if (!media.iceUfrag || !media.icePwd) {
    throw new InvalidAnswerError("the answer has no a=ice-ufrag/a=ice-pwd");
  }
  if (!media.fingerprint) {
    throw new InvalidAnswerError("the answer has no a=fingerprint (DTLS is required)");
  }
  // RFC 5763 §5: the answer to actpass is active or passive; actpass (or none) is invalid.
  if (media.setup !== "active" && media.setup !== "passive") {
    throw new InvalidAnswerError(
      `the answer's a=setup is ${media.setup ?? "missing"}; it must be active or passive`,
    );
  }
  return {
    iceUfrag: media.iceUfrag,
    icePwd: media.icePwd,
    fingerprint: media.fingerprint,
    setup: media.setup,
    candidates: media.candidates,
  };
}
