/**
 * A small SDP reader (RFC 8866) for what a WHIP/WHEP server needs to know about an offer.
 *
 * werift parses SDP too, but it answers with whatever it negotiates, keeps no record of the
 * publisher's exact extension IDs per m-line, and trips over some real offers (OBS puts ICE and
 * DTLS attributes at session level; GStreamer sends `port 0` + `bundle-only`). Quetzal reads the
 * offer itself, hands werift a normalised copy for ICE/DTLS, and writes the answer's media
 * sections itself (see answer.ts).
 */

/** One `a=rtpmap` payload type with its fmtp and rtcp-fb lines. */
export interface SdpCodec {
  payloadType: number;
  /** Encoding name as written (e.g. "H264", "opus"). */
  name: string;
  clockRate: number;
  channels?: number;
  /** The raw fmtp parameter string, "" when absent. */
  fmtp: string;
  /** rtcp-fb values, e.g. ["nack", "nack pli", "ccm fir", "transport-cc"]. */
  rtcpFb: string[];
}

/** An `a=extmap` entry. */
export interface SdpExtmap {
  id: number;
  uri: string;
}

/** An `a=rid` entry (RFC 8851). */
export interface SdpRid {
  id: string;
  direction: "send" | "recv";
  /** Restrictions as written after the direction, e.g. "pt=96;max-width=1280". */
  params: string;
}

export interface SdpMedia {
  kind: string;
  port: number;
  protocol: string;
  /** Payload types in m-line order. */
  formats: string[];
  mid?: string;
  direction: "sendrecv" | "sendonly" | "recvonly" | "inactive";
  codecs: SdpCodec[];
  extmaps: SdpExtmap[];
  rids: SdpRid[];
  /** The `a=simulcast` value, if any. */
  simulcast?: string;
  ssrcs: number[];
  msid?: string;
  bundleOnly: boolean;
  rtcpMux: boolean;
  iceUfrag?: string;
  icePwd?: string;
  fingerprint?: string;
  setup?: string;
  candidates: string[];
  /** Every attribute line of the section, without "a=". */
  attributes: string[];
}

export interface SessionDescriptionInfo {
  /** Session-level attribute lines, without "a=". */
  attributes: string[];
  bundle: string[];
  iceUfrag?: string;
  icePwd?: string;
  fingerprint?: string;
  setup?: string;
  iceLite: boolean;
  media: SdpMedia[];
}

/** An SDP that cannot be read; the message says what was wrong. */
export class SdpParseError extends Error {
  override name = "SdpParseError";
}

const DIRECTIONS = new Set(["sendrecv", "sendonly", "recvonly", "inactive"]);

/** Parses SDP text. Throws SdpParseError with a message naming the first problem. */
export function parseSdp(text: string): SessionDescriptionInfo {
  if (!text.trim()) throw new SdpParseError("empty SDP");
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.length > 0);
  if (!lines[0].startsWith("v=0")) throw new SdpParseError('SDP must start with "v=0"');
  const session: SessionDescriptionInfo = {
    attributes: [],
    bundle: [],
    iceLite: false,
    media: [],
  };
  let current: SdpMedia | undefined;
  for (const [index, line] of lines.entries()) {
    if (line.length < 2 || line[1] !== "=" || !/[a-z]/.test(line[0])) {
      throw new SdpParseError(`line ${index + 1} is not "<type>=<value>": ${truncate(line)}`);
    }
    const type = line[0];
    const value = line.slice(2);
    if (type === "m") {
      current = parseMediaLine(value, index);
      session.media.push(current);
    } else if (type === "a") {
      if (current) applyMediaAttribute(current, value, index);
      else applySessionAttribute(session, value);
    }
  }
  if (session.media.length === 0) throw new SdpParseError("SDP has no m= sections");
  for (const media of session.media) {
    media.iceUfrag ??= session.iceUfrag;
    media.icePwd ??= session.icePwd;
    media.fingerprint ??= session.fingerprint;
    media.setup ??= session.setup;
    const sessionDirection = session.attributes.find((a) => DIRECTIONS.has(a));
    if (sessionDirection && !media.attributes.some((a) => DIRECTIONS.has(a))) {
      media.direction = sessionDirection as SdpMedia["direction"];
    }
  }
  return session;
}

function parseMediaLine(value: string, index: number): SdpMedia {
  const parts = value.split(/\s+/);
  if (parts.length < 4) throw new SdpParseError(`line ${index + 1}: malformed m= line`);
  const port = Number(parts[1].split("/")[0]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SdpParseError(`line ${index + 1}: bad port in m= line`);
  }
  return {
    kind: parts[0],
    port,
    protocol: parts[2],
    formats: parts.slice(3),
    direction: "sendrecv",
    codecs: [],
    extmaps: [],
    rids: [],
    ssrcs: [],
    bundleOnly: false,
    rtcpMux: false,
    candidates: [],
    attributes: [],
  };
}

function applySessionAttribute(session: SessionDescriptionInfo, value: string): void {
  session.attributes.push(value);
  const [name, rest] = splitAttribute(value);
  switch (name) {
    case "group":
      if (rest.startsWith("BUNDLE")) session.bundle = rest.split(/\s+/).slice(1);
      break;
    case "ice-ufrag":
      session.iceUfrag = rest;
      break;
    case "ice-pwd":
      session.icePwd = rest;
      break;
    case "fingerprint":
      session.fingerprint = rest;
      break;
    case "setup":
      session.setup = rest;
      break;
    case "ice-lite":
      session.iceLite = true;
      break;
  }
}

function applyMediaAttribute(media: SdpMedia, value: string, index: number): void {
  media.attributes.push(value);
  const [name, rest] = splitAttribute(value);
  switch (name) {
    case "mid":
      media.mid = rest;
      break;
    case "sendrecv":
    case "sendonly":
    case "recvonly":
    case "inactive":
      media.direction = name;
      break;
    case "rtpmap": {
      const match = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(rest);
      if (!match) throw new SdpParseError(`line ${index + 1}: malformed rtpmap`);
      const codec = codecFor(media, Number(match[1]));
      codec.name = match[2];
      codec.clockRate = Number(match[3]);
      if (match[4]) codec.channels = Number(match[4]);
      break;
    }
    case "fmtp": {
      const match = /^(\d+)\s+(.*)$/.exec(rest);
      if (match) codecFor(media, Number(match[1])).fmtp = match[2].trim();
      break;
    }
    case "rtcp-fb": {
      const match = /^(\d+|\*)\s+(.*)$/.exec(rest);
      if (!match) break;
      if (match[1] === "*") media.attributes.push(`rtcp-fb-wildcard ${match[2].trim()}`);
      else codecFor(media, Number(match[1])).rtcpFb.push(match[2].trim());
      break;
    }
    case "extmap": {
      const match = /^(\d+)(?:\/\w+)?\s+(\S+)/.exec(rest);
      if (!match) throw new SdpParseError(`line ${index + 1}: malformed extmap`);
      const id = Number(match[1]);
      if (id < 1 || id > 255) throw new SdpParseError(`line ${index + 1}: extmap id out of range`);
      media.extmaps.push({ id, uri: match[2] });
      break;
    }
    case "rid": {
      const match = /^([A-Za-z0-9_-]+)\s+(send|recv)(?:\s+(.*))?$/.exec(rest);
      if (!match) throw new SdpParseError(`line ${index + 1}: malformed rid`);
      media.rids.push({
        id: match[1],
        direction: match[2] as "send" | "recv",
        params: match[3] ?? "",
      });
      break;
    }
    case "simulcast":
      media.simulcast = rest;
      break;
    case "ssrc": {
      const ssrc = Number(rest.split(/\s+/)[0]);
      if (Number.isInteger(ssrc) && !media.ssrcs.includes(ssrc)) media.ssrcs.push(ssrc);
      break;
    }
    case "msid":
      media.msid = rest;
      break;
    case "bundle-only":
      media.bundleOnly = true;
      break;
    case "rtcp-mux":
      media.rtcpMux = true;
      break;
    case "ice-ufrag":
      media.iceUfrag = rest;
      break;
    case "ice-pwd":
      media.icePwd = rest;
      break;
    case "fingerprint":
      media.fingerprint = rest;
      break;
    case "setup":
      media.setup = rest;
      break;
    case "candidate":
      media.candidates.push(value);
      break;
  }
}

function codecFor(media: SdpMedia, payloadType: number): SdpCodec {
  let codec = media.codecs.find((c) => c.payloadType === payloadType);
  if (!codec) {
    codec = { payloadType, name: "", clockRate: 0, fmtp: "", rtcpFb: [] };
    media.codecs.push(codec);
  }
  return codec;
}

function splitAttribute(value: string): [string, string] {
  const colon = value.indexOf(":");
  return colon === -1 ? [value, ""] : [value.slice(0, colon), value.slice(colon + 1).trim()];
}

function truncate(line: string): string {
  return line.length > 40 ? `${line.slice(0, 40)}…` : line;
}

/** Parses an fmtp string ("a=1;b=2") into a map with lower-case keys. */
export function parseFmtp(fmtp: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of fmtp.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return params;
}

/** The rid ids of a simulcast description ("send 0;1;2" or "send h;~m,l"), paused markers dropped. */
export function simulcastRids(simulcast: string | undefined): string[] {
  if (!simulcast) return [];
  const match = /\bsend\s+(\S+)/.exec(simulcast);
  if (!match) return [];
  return match[1].split(/[;,]/).map((r) => r.replace(/^~/, "")).filter(Boolean);
}
