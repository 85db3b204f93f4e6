/**
 * werift client peers of the bench (publishers and viewers), configured for loopback: host
 * candidates on 127.0.0.1 only and a loopback STUN stub, so nothing contacts a public address.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from "werift";

export const VP8 = new RTCRtpCodecParameters({
  mimeType: "video/VP8",
  clockRate: 90000,
  rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "transport-cc" }],
});
export const OPUS = new RTCRtpCodecParameters({
  mimeType: "audio/opus",
  clockRate: 48000,
  channels: 2,
});

/** A werift peer for 127.0.0.1 offering VP8 and Opus, with mid, TWCC and abs-send-time on video. */
export function createClientPeer(
  stunUrl: string,
  videoExtensions = [useSdesMid(), useTransportWideCC(), useAbsSendTime()],
): RTCPeerConnection {
  return new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    iceServers: [{ urls: stunUrl }],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    codecs: { audio: [OPUS], video: [VP8] },
    headerExtensions: {
      video: videoExtensions,
      audio: [useSdesMid()],
    },
  });
}

/**
 * Offers, POSTs the offer (WHIP/WHEP), applies the answer; returns the resource URL.
 * `beforePost` runs once the local description (and so the DTLS transport) exists.
 */
export async function negotiate(
  pc: RTCPeerConnection,
  url: string,
  token?: string,
  beforePost?: () => void,
): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  beforePost?.();
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
  });
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/sdp",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: pc.localDescription!.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`POST ${url} → ${response.status}: ${body}`);
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return new URL(response.headers.get("Location") ?? "", url).href;
}

/** Resolves when the peer's connection state is "connected"; rejects on failure or timeout. */
export function connected(pc: RTCPeerConnection, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === "connected") return resolve();
    const timer = setTimeout(() => reject(new Error("peer did not connect")), timeoutMs);
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        resolve();
      } else if (s === "failed") {
        clearTimeout(timer);
        reject(new Error("peer connection failed"));
      }
    });
  });
}
