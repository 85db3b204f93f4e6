/**
 * SDP offers shaped like the ones real WHIP/WHEP clients send, written from their documented
 * behaviour (OBS through libdatachannel, Chromium, GStreamer webrtcbin, aiortc, libdatachannel
 * apps), for negotiation unit tests and HTTP tests. Addresses in candidates are from the
 * documentation ranges (RFC 5737), never contacted: Quetzal is ICE-lite and never initiates.
 */
import { RTCPeerConnection, type RTCRtpCodecParameters } from "werift";
import { OPUS, VP8 } from "./werift-client.ts";

/** Joins SDP lines with CRLF (RFC 8866 §5) and ends the last line. */
export function sdp(lines: readonly string[]): string {
  return lines.join("\r\n") + "\r\n";
}

/** A made-up but well-formed SHA-256 certificate fingerprint (32 bytes). */
export function fingerprint(seed: number): string {
  const bytes: string[] = [];
  for (let i = 0; i < 32; i++) {
    bytes.push(((seed * 37 + i * 11) & 0xff).toString(16).toUpperCase().padStart(2, "0"));
  }
  return `sha-256 ${bytes.join(":")}`;
}

/** Replaces every ICE ufrag and password in an offer (ICE restart, distinct sessions). */
export function withIceCredentials(offer: string, ufrag: string, pwd: string): string {
  return offer
    .replace(/^a=ice-ufrag:.*$/gm, `a=ice-ufrag:${ufrag}`)
    .replace(/^a=ice-pwd:.*$/gm, `a=ice-pwd:${pwd}`);
}

/**
 * OBS 30.x (libdatachannel): ICE, DTLS and setup at session level, `a=group:LS`, no
 * candidates, no rtcp-mux-only, H264 always labelled 42e01f, Opus stereo, no extmaps.
 */
export const OBS_30 = sdp([
  "v=0",
  "o=rtc 1952839711 0 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "a=group:LS 0 1",
  "a=msid-semantic:WMS *",
  "a=setup:actpass",
  "a=ice-ufrag:Qz7e",
  "a=ice-pwd:v1yPB8kGq1uDjN0dYtAm3f",
  "a=ice-options:ice2,trickle",
  `a=fingerprint:${fingerprint(1)}`,
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 0.0.0.0",
  "a=mid:0",
  "a=sendonly",
  "a=ssrc:3308316021 cname:hRrsM2WBl4uhv7vW",
  "a=ssrc:3308316021 msid:obs-stream obs-stream-audio",
  "a=msid:obs-stream obs-stream-audio",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "c=IN IP4 0.0.0.0",
  "a=mid:1",
  "a=sendonly",
  "a=ssrc:1466385406 cname:hRrsM2WBl4uhv7vW",
  "a=ssrc:1466385406 msid:obs-stream obs-stream-video",
  "a=msid:obs-stream obs-stream-video",
  "a=rtcp-mux",
  "a=rtpmap:96 H264/90000",
  "a=rtcp-fb:96 nack",
  "a=rtcp-fb:96 nack pli",
  "a=rtcp-fb:96 ccm fir",
  "a=rtcp-fb:96 goog-remb",
  "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
]);

/**
 * OBS 32.1 with three simulcast layers: newer libdatachannel writes ICE/DTLS per m-line; the
 * video m-line has MID + RID extmaps, `a=rid:0/1/2 send`, `a=simulcast:send 0;1;2`, no a=ssrc.
 */
export const OBS_32_SIMULCAST = sdp([
  "v=0",
  "o=rtc 2754187012 0 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "a=group:LS 0 1",
  "a=msid-semantic:WMS *",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 0.0.0.0",
  "a=mid:0",
  "a=sendonly",
  "a=ice-ufrag:Lm3s",
  "a=ice-pwd:Yb4nWq9z2RkP0aXc7JhE1s",
  "a=ice-options:ice2,trickle",
  `a=fingerprint:${fingerprint(2)}`,
  "a=setup:actpass",
  "a=ssrc:910284412 cname:uWm0cJv3b8Zp5rQx",
  "a=ssrc:910284412 msid:obs obs-audio",
  "a=msid:obs obs-audio",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "c=IN IP4 0.0.0.0",
  "a=mid:1",
  "a=sendonly",
  "a=ice-ufrag:Lm3s",
  "a=ice-pwd:Yb4nWq9z2RkP0aXc7JhE1s",
  "a=ice-options:ice2,trickle",
  `a=fingerprint:${fingerprint(2)}`,
  "a=setup:actpass",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
  "a=msid:obs obs-video",
  "a=rtcp-mux",
  "a=rtpmap:96 H264/90000",
  "a=rtcp-fb:96 nack",
  "a=rtcp-fb:96 nack pli",
  "a=rtcp-fb:96 ccm fir",
  "a=rtcp-fb:96 goog-remb",
  "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
  "a=rid:0 send",
  "a=rid:1 send",
  "a=rid:2 send",
  "a=simulcast:send 0;1;2",
]);

const CHROMIUM_AUDIO_EXTMAPS = [
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
];

const CHROMIUM_VIDEO_EXTMAPS = [
  "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "a=extmap:13 urn:3gpp:video-orientation",
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
  "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
  "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
  "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
  "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
];

/** Chromium's video payload types: each codec followed by its rtx, then red/ulpfec. */
const CHROMIUM_VIDEO_PTS =
  "96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125 39 40 45 46 114 115 116";

function chromiumVideoCodecs(): string[] {
  const fb = (pt: number) => [
    `a=rtcp-fb:${pt} goog-remb`,
    `a=rtcp-fb:${pt} transport-cc`,
    `a=rtcp-fb:${pt} ccm fir`,
    `a=rtcp-fb:${pt} nack`,
    `a=rtcp-fb:${pt} nack pli`,
  ];
  const rtx = (pt: number, apt: number) => [
    `a=rtpmap:${pt} rtx/90000`,
    `a=fmtp:${pt} apt=${apt}`,
  ];
  const h264 = (pt: number, profile: string, mode: number) => [
    `a=rtpmap:${pt} H264/90000`,
    ...fb(pt),
    `a=fmtp:${pt} level-asymmetry-allowed=1;packetization-mode=${mode};profile-level-id=${profile}`,
  ];
  return [
    "a=rtpmap:96 VP8/90000",
    ...fb(96),
    ...rtx(97, 96),
    "a=rtpmap:98 VP9/90000",
    ...fb(98),
    "a=fmtp:98 profile-id=0",
    ...rtx(99, 98),
    "a=rtpmap:100 VP9/90000",
    ...fb(100),
    "a=fmtp:100 profile-id=2",
    ...rtx(101, 100),
    ...h264(102, "42001f", 1),
    ...rtx(103, 102),
    ...h264(104, "42001f", 0),
    ...rtx(105, 104),
    ...h264(106, "42e01f", 1),
    ...rtx(107, 106),
    ...h264(108, "42e01f", 0),
    ...rtx(109, 108),
    ...h264(127, "4d001f", 1),
    ...rtx(125, 127),
    ...h264(39, "4d001f", 0),
    ...rtx(40, 39),
    "a=rtpmap:45 AV1/90000",
    ...fb(45),
    "a=fmtp:45 level-idx=5;profile=0;tier=0",
    ...rtx(46, 45),
    "a=rtpmap:114 red/90000",
    ...rtx(115, 114),
    "a=rtpmap:116 ulpfec/90000",
  ];
}

function chromium(
  options: { direction: "sendonly" | "recvonly"; simulcast: boolean; seed: number },
): string {
  const ufrag = options.direction === "sendonly" ? "c8Hv" : "pW2x";
  const pwd = options.direction === "sendonly"
    ? "Jk2dP0s9mQ4rT7uVw1xYz3aB"
    : "nR5tQ8vX2zB4dF6hJ8kL0mN2";
  const transport = [
    `a=ice-ufrag:${ufrag}`,
    `a=ice-pwd:${pwd}`,
    "a=ice-options:trickle",
    `a=fingerprint:${fingerprint(options.seed)}`,
    "a=setup:actpass",
  ];
  const msid = options.direction === "sendonly"
    ? (track: string) => [`a=msid:8f6c2b0e-stream ${track}`]
    : () => [];
  const video = [
    `m=video 9 UDP/TLS/RTP/SAVPF ${CHROMIUM_VIDEO_PTS}`,
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    ...transport,
    "a=mid:1",
    ...CHROMIUM_VIDEO_EXTMAPS,
    `a=${options.direction}`,
    ...msid("5d1f9a63-video"),
    "a=rtcp-mux",
    "a=rtcp-rsize",
    ...chromiumVideoCodecs(),
  ];
  if (options.simulcast) {
    video.push("a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f");
  } else if (options.direction === "sendonly") {
    video.push(
      "a=ssrc-group:FID 2231627014 632943048",
      "a=ssrc:2231627014 cname:4TOk42mSjXCkVIa6",
      "a=ssrc:2231627014 msid:8f6c2b0e-stream 5d1f9a63-video",
      "a=ssrc:632943048 cname:4TOk42mSjXCkVIa6",
      "a=ssrc:632943048 msid:8f6c2b0e-stream 5d1f9a63-video",
    );
  }
  return sdp([
    "v=0",
    `o=- ${4611731400430051336n + BigInt(options.seed)} 2 IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 8f6c2b0e-stream",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    ...transport,
    "a=mid:0",
    ...CHROMIUM_AUDIO_EXTMAPS,
    `a=${options.direction}`,
    ...msid("2b7e0c11-audio"),
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    ...(options.direction === "sendonly"
      ? [
        "a=ssrc:1871406205 cname:4TOk42mSjXCkVIa6",
        "a=ssrc:1871406205 msid:8f6c2b0e-stream 2b7e0c11-audio",
      ]
      : []),
    ...video,
  ]);
}

/** Chromium WHIP (sendonly) offer, one encoding: VP8/VP9/H264/AV1 each with rtx, transport-cc. */
export const CHROMIUM = chromium({ direction: "sendonly", simulcast: false, seed: 3 });

/** Chromium WHIP offer with three simulcast encodings q/h/f (no a=ssrc on video). */
export const CHROMIUM_SIMULCAST = chromium({ direction: "sendonly", simulcast: true, seed: 4 });

/** Chromium WHEP (recvonly) offer, as `addTransceiver(kind, {direction: "recvonly"})` makes. */
export const CHROMIUM_WHEP = chromium({ direction: "recvonly", simulcast: false, seed: 5 });

/**
 * GStreamer webrtcbin (whipsink/whipclientsink): video first, the audio m-line bundled with
 * `port 0` + `a=bundle-only` (RFC 8843 §6), candidates gathered before the POST.
 */
export const GSTREAMER = sdp([
  "v=0",
  "o=- 7429140623459834810 0 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=ice-options:trickle",
  "a=group:BUNDLE video0 audio1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "c=IN IP4 0.0.0.0",
  "a=setup:actpass",
  "a=ice-ufrag:0Xq4Ys7TkLpJ2vMn6RbW8cFd1gHa3eKs",
  "a=ice-pwd:Zt5Uv7Wx9Ya1Bc3De5Fg7Hi9Jk1Lm3No",
  "a=rtcp-mux",
  "a=rtcp-rsize",
  "a=sendonly",
  "a=rtpmap:96 VP8/90000",
  "a=rtcp-fb:96 nack",
  "a=rtcp-fb:96 nack pli",
  "a=framerate:30",
  "a=ssrc:3514226815 msid:user1207618843@host-7e2a webrtctransceiver0",
  "a=ssrc:3514226815 cname:user1207618843@host-7e2a",
  "a=mid:video0",
  `a=fingerprint:${fingerprint(6)}`,
  "a=candidate:1 1 UDP 2015363327 192.0.2.44 50214 typ host",
  "a=candidate:2 1 TCP 1015021823 192.0.2.44 9 typ host tcptype active",
  "a=candidate:3 1 UDP 1679819007 198.51.100.7 50214 typ srflx raddr 192.0.2.44 rport 50214",
  "a=end-of-candidates",
  "m=audio 0 UDP/TLS/RTP/SAVPF 97",
  "c=IN IP4 0.0.0.0",
  "a=bundle-only",
  "a=setup:actpass",
  "a=ice-ufrag:0Xq4Ys7TkLpJ2vMn6RbW8cFd1gHa3eKs",
  "a=ice-pwd:Zt5Uv7Wx9Ya1Bc3De5Fg7Hi9Jk1Lm3No",
  "a=rtcp-mux",
  "a=rtcp-rsize",
  "a=sendonly",
  "a=rtpmap:97 OPUS/48000/2",
  "a=rtcp-fb:97 nack",
  "a=rtcp-fb:97 nack pli",
  "a=fmtp:97 sprop-maxcapturerate=48000;sprop-stereo=0",
  "a=ssrc:1213416530 msid:user1207618843@host-7e2a webrtctransceiver1",
  "a=ssrc:1213416530 cname:user1207618843@host-7e2a",
  "a=mid:audio1",
  `a=fingerprint:${fingerprint(6)}`,
]);

/**
 * aiortc 1.4: extmap id 2 means audio-level on the audio m-line and abs-send-time on the video
 * one; candidates gathered before createOffer resolves; `sendrecv` (allowed for WHIP).
 */
export const AIORTC = sdp([
  "v=0",
  "o=- 3921470652 3921470652 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "a=msid-semantic:WMS *",
  "m=audio 50392 UDP/TLS/RTP/SAVPF 96 0 8",
  "c=IN IP4 192.0.2.61",
  "a=sendrecv",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "a=mid:0",
  "a=msid:6b4d1fcd-4b0b-4b2c-9a67-2a4ec64d3d49 4f0a2f6e-5c2b-4d43-8c1e-3c77b1e2f7aa",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=rtcp-mux",
  "a=ssrc:2934115032 cname:0c1f43b2-7e5e-4b2f-9d59-9f3a7c0c1b2d",
  "a=rtpmap:96 opus/48000/2",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=candidate:3a7c0ea5f9b3d1c4e2a6b8d0f1e3c5a7 1 udp 2130706431 192.0.2.61 50392 typ host",
  "a=end-of-candidates",
  "a=ice-ufrag:Hq2R",
  "a=ice-pwd:a4Gd8Kp1Ts6Wz0Cf3Jm7Qv",
  `a=fingerprint:${fingerprint(7)}`,
  "a=setup:actpass",
  "m=video 50392 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102",
  "c=IN IP4 192.0.2.61",
  "a=sendrecv",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "a=mid:1",
  "a=msid:6b4d1fcd-4b0b-4b2c-9a67-2a4ec64d3d49 8d3e6a90-1f7c-4e55-b0a2-6c0f2d9e4b13",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=rtcp-mux",
  "a=ssrc-group:FID 1193812270 3805206771",
  "a=ssrc:1193812270 cname:0c1f43b2-7e5e-4b2f-9d59-9f3a7c0c1b2d",
  "a=ssrc:3805206771 cname:0c1f43b2-7e5e-4b2f-9d59-9f3a7c0c1b2d",
  "a=rtpmap:97 VP8/90000",
  "a=rtcp-fb:97 nack",
  "a=rtcp-fb:97 nack pli",
  "a=rtcp-fb:97 goog-remb",
  "a=rtpmap:98 rtx/90000",
  "a=fmtp:98 apt=97",
  "a=rtpmap:99 H264/90000",
  "a=rtcp-fb:99 nack",
  "a=rtcp-fb:99 nack pli",
  "a=rtcp-fb:99 goog-remb",
  "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
  "a=rtpmap:100 rtx/90000",
  "a=fmtp:100 apt=99",
  "a=rtpmap:101 H264/90000",
  "a=rtcp-fb:101 nack",
  "a=rtcp-fb:101 nack pli",
  "a=rtcp-fb:101 goog-remb",
  "a=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "a=rtpmap:102 rtx/90000",
  "a=fmtp:102 apt=101",
  "a=candidate:3a7c0ea5f9b3d1c4e2a6b8d0f1e3c5a7 1 udp 2130706431 192.0.2.61 50392 typ host",
  "a=end-of-candidates",
  "a=ice-ufrag:Hq2R",
  "a=ice-pwd:a4Gd8Kp1Ts6Wz0Cf3Jm7Qv",
  `a=fingerprint:${fingerprint(7)}`,
  "a=setup:actpass",
]);

/**
 * A libdatachannel application (its media sender examples): per-m-line ICE/DTLS, MID extmap,
 * a host candidate and end-of-candidates after gathering, video before audio.
 */
export const LIBDATACHANNEL = sdp([
  "v=0",
  "o=rtc 836519274 0 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE video audio",
  "a=group:LS video audio",
  "a=msid-semantic:WMS *",
  "a=ice-options:ice2,trickle",
  "m=video 52800 UDP/TLS/RTP/SAVPF 102",
  "c=IN IP4 192.0.2.20",
  "a=mid:video",
  "a=sendonly",
  "a=ssrc:42 cname:video-send",
  "a=ssrc:42 msid:stream1 video-send",
  "a=msid:stream1 video-send",
  "a=rtcp-mux",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=rtpmap:102 H264/90000",
  "a=rtcp-fb:102 nack",
  "a=rtcp-fb:102 nack pli",
  "a=rtcp-fb:102 goog-remb",
  "a=fmtp:102 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
  "a=setup:actpass",
  "a=ice-ufrag:d3Wq",
  "a=ice-pwd:T6yHbN9mKq2sLp4vXc8zRf",
  `a=fingerprint:${fingerprint(8)}`,
  "a=candidate:1 1 UDP 2122317823 192.0.2.20 52800 typ host",
  "a=end-of-candidates",
  "m=audio 52800 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 192.0.2.20",
  "a=mid:audio",
  "a=sendonly",
  "a=ssrc:43 cname:audio-send",
  "a=ssrc:43 msid:stream1 audio-send",
  "a=msid:stream1 audio-send",
  "a=rtcp-mux",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
  "a=setup:actpass",
  "a=ice-ufrag:d3Wq",
  "a=ice-pwd:T6yHbN9mKq2sLp4vXc8zRf",
  `a=fingerprint:${fingerprint(8)}`,
]);

/** Every publisher fixture, by client name. */
export const WHIP_OFFERS: Readonly<Record<string, string>> = {
  "OBS 30": OBS_30,
  "OBS 32.1 simulcast": OBS_32_SIMULCAST,
  "Chromium": CHROMIUM,
  "Chromium simulcast": CHROMIUM_SIMULCAST,
  "GStreamer": GSTREAMER,
  "aiortc": AIORTC,
  "libdatachannel": LIBDATACHANNEL,
};

/** OBS 30 with a second video m-line: two tracks of one kind (→ 422). */
export const TWO_VIDEO_TRACKS = OBS_30
  .replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2")
  .concat(
    OBS_30.slice(OBS_30.indexOf("m=video")).replace("a=mid:1", "a=mid:2").replaceAll(
      "1466385406",
      "1466385407",
    ),
  );

/** OBS 30 whose video is H264 packetization-mode 0 and MPEG-4 only: nothing forwardable. */
export const NO_FORWARDABLE_VIDEO = OBS_30
  .replace("m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 96 98")
  .replace("packetization-mode=1", "packetization-mode=0")
  .replace("a=rtpmap:96 H264/90000", "a=rtpmap:96 H264/90000\r\na=rtpmap:98 MP4V-ES/90000");

/** OBS 30 turned around: a recvonly WHIP offer (RFC 9725 §4.2 forbids it). */
export const WHIP_RECVONLY = OBS_30.replaceAll("a=sendonly", "a=recvonly");

/**
 * An offer from a werift peer (as the integration tests' clients make it): `whip` adds sendonly
 * video + audio transceivers, `whep` recvonly ones. No gathering: the offer has no candidates.
 */
export async function weriftOffer(
  role: "whip" | "whep",
  video: RTCRtpCodecParameters[] = [VP8],
): Promise<string> {
  const pc = new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    codecs: { audio: [OPUS], video },
  });
  try {
    const direction = role === "whip" ? "sendonly" : "recvonly";
    pc.addTransceiver("video", { direction });
    pc.addTransceiver("audio", { direction });
    return (await pc.createOffer()).sdp;
  } finally {
    await pc.close();
  }
}

/** The port of the server's host candidate in an SDP answer. */
export function candidatePort(sdp: string): number {
  const line = sdp.split("\r\n").find((l) => l.startsWith("a=candidate:"));
  if (!line) throw new Error("the answer has no candidate");
  return Number(line.split(" ")[5]);
}
