/**
 * Transport-wide congestion-control feedback from a werift viewer, as a browser sends it, so
 * the server's per-viewer bandwidth estimate has something true to run on in tests.
 *
 * werift 0.25.2 as a receiver does generate transport-cc feedback once the extension and the
 * `transport-cc` rtcp-fb are negotiated (`ReceiverTWCC`), but it cannot drive an estimator:
 * its packets are not padded to 32 bits (RFC 3550 §6.4.1 length, so strict readers reject
 * them), a missing sequence number is folded into the neighbouring run as if it had arrived
 * (no "not received" status: loss is invisible and the deltas no longer line up with the
 * statuses), its reference time is the previous packet's arrival truncated to 64 ms while
 * the first delta is taken from the untruncated time (every feedback shifts arrival times by
 * up to 64 ms, which reads as delay jitter), and a range breaks at the 65535→0 wrap. It sends
 * no REMB; receiver reports (fraction lost) are all a server gets from it by default.
 *
 * So the viewer here records arrivals itself, at the datagram, before werift decrypts
 * (SRTP leaves the RTP header and its extensions in the clear, RFC 3711 §3.1), and every
 * 100 ms sends feedback written by Quetzal's own `TwccRecorder` (the one publishers get,
 * interoperable with Chromium), while werift's generator is switched off.
 */
import { Buffer } from "node:buffer";
import type { RTCPeerConnection } from "werift";
import { TwccRecorder } from "../../src/rtp/twcc-recorder.ts";

/** The transport-wide sequence number extension (draft-holmer-rmcat-transport-wide-cc-extensions-01). */
export const TRANSPORT_CC_URI =
  "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/** libwebrtc's RemoteEstimatorProxy default interval. */
const FEEDBACK_INTERVAL_MS = 100;

/** A running feedback generator. */
export interface ViewerFeedback {
  /** Packets whose transport-wide sequence number was recorded. */
  readonly packetsRecorded: number;
  /** Feedback packets sent. */
  readonly feedbackSent: number;
  stop(): void;
}

/** The extension ID an SDP (the server's answer) gives `uri` in its first video m-line, or -1. */
export function extmapId(sdp: string, uri: string): number {
  const video = sdp.split(/\r?\nm=/).find((s) => s.startsWith("video"));
  const m = video?.match(new RegExp(`a=extmap:(\\d+)(?:/\\w+)? ${uri.replace(/\./g, "\\.")}`));
  return m ? Number(m[1]) : -1;
}

/**
 * Reads the one-byte-header extension `id` of an RTP packet (RFC 8285 §4.2) as a 16-bit
 * number; -1 if absent.
 */
export function readExtension16(data: Uint8Array, id: number): number {
  if (data.length < 12 || (data[0] & 0x10) === 0) return -1;
  let p = 12 + (data[0] & 0x0f) * 4;
  if (data.length < p + 4 || data[p] !== 0xbe || data[p + 1] !== 0xde) return -1;
  const end = p + 4 + ((data[p + 2] << 8) | data[p + 3]) * 4;
  if (end > data.length) return -1;
  p += 4;
  while (p < end) {
    const b = data[p];
    if (b === 0) {
      p++; // padding
      continue;
    }
    const extId = b >> 4;
    const len = (b & 0x0f) + 1;
    if (extId === 15) return -1;
    if (extId === id) return len >= 2 ? (data[p + 1] << 8) | data[p + 2] : -1;
    p += 1 + len;
  }
  return -1;
}

/**
 * Starts transport-cc feedback on a connected-or-connecting viewer peer whose answer gave the
 * extension ID `extId`. Call after `setRemoteDescription` and before media flows. Replaces
 * werift's own generator for every receiver of the peer.
 */
export function startViewerFeedback(pc: RTCPeerConnection, extId: number): ViewerFeedback {
  for (const t of pc.getTransceivers()) {
    // werift creates its ReceiverTWCC when the answer names the sender's SSRC, else on the
    // first packet with the extension. Its feedback stamps arrivals with another clock (wall
    // time, not performance.now()): mixed with ours, some packets seemed to arrive 45 hours
    // late and the server's acknowledged rate, then its estimate, collapsed to the floor.
    const receiver = t.receiver as unknown as { receiverTWCC?: unknown; setupTWCC: () => void };
    receiver.receiverTWCC = undefined;
    receiver.setupTWCC = () => {};
  }
  const transport = pc.dtlsTransports[0] as unknown as {
    iceTransport: { connection: { onData: { execute: (data: Uint8Array) => void } } };
    sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
  };
  const recorder = new TwccRecorder();
  const senderSsrc = crypto.getRandomValues(new Uint32Array(1))[0];
  let mediaSsrc = 0;
  let feedbackSent = 0;
  const onData = transport.iceTransport.connection.onData;
  const deliver = onData.execute;
  onData.execute = (data: Uint8Array) => {
    const pt = data[1] & 0x7f;
    // RFC 7983: RTP/RTCP first byte 128–191; RFC 5761 §4: payload types 64–95 are RTCP.
    if (data.length >= 12 && data[0] >= 128 && data[0] <= 191 && (pt < 64 || pt > 95)) {
      const seq = readExtension16(data, extId);
      if (seq >= 0) {
        recorder.record(seq, performance.now() * 1000);
        if (mediaSsrc === 0) {
          mediaSsrc = ((data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]) >>> 0;
        }
      }
    }
    deliver(data);
  };
  const buf = new Uint8Array(1200);
  const timer = setInterval(() => {
    for (;;) {
      const n = recorder.buildFeedback(buf, 0, senderSsrc, mediaSsrc);
      if (n === 0) break;
      const bytes = Buffer.from(buf.subarray(0, n));
      feedbackSent++;
      void transport.sendRtcp([{ serialize: () => bytes }]).catch(() => {});
    }
  }, FEEDBACK_INTERVAL_MS);
  return {
    get packetsRecorded() {
      return recorder.packetsRecorded;
    },
    get feedbackSent() {
      return feedbackSent;
    },
    stop() {
      clearInterval(timer);
      onData.execute = deliver;
    },
  };
}
