import { assert, assertEquals, assertThrows } from "@std/assert";
import { parseFmtp, parseSdp, SdpParseError, simulcastRids } from "../../src/session/sdp.ts";
import {
  AIORTC,
  CHROMIUM,
  CHROMIUM_SIMULCAST,
  fingerprint,
  GSTREAMER,
  OBS_30,
  OBS_32_SIMULCAST,
} from "../support/offers.ts";

Deno.test("OBS 30: session-level ICE/DTLS attributes reach every m-line; LS group ignored", () => {
  const offer = parseSdp(OBS_30);
  assertEquals(offer.bundle, ["0", "1"]);
  assertEquals(offer.iceLite, false);
  for (const media of offer.media) {
    assertEquals(media.iceUfrag, "Qz7e");
    assertEquals(media.icePwd, "v1yPB8kGq1uDjN0dYtAm3f");
    assertEquals(media.fingerprint, fingerprint(1));
    assertEquals(media.setup, "actpass");
    assertEquals(media.direction, "sendonly");
    assertEquals(media.rtcpMux, true);
    assertEquals(media.candidates, []);
  }
  const [audio, video] = offer.media;
  assertEquals([audio.kind, audio.mid, audio.port, audio.protocol], [
    "audio",
    "0",
    9,
    "UDP/TLS/RTP/SAVPF",
  ]);
  assertEquals(audio.codecs, [{
    payloadType: 111,
    name: "opus",
    clockRate: 48000,
    channels: 2,
    fmtp: "minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
    rtcpFb: [],
  }]);
  assertEquals(audio.ssrcs, [3308316021]);
  assertEquals(audio.msid, "obs-stream obs-stream-audio");
  assertEquals(video.codecs[0].rtcpFb, ["nack", "nack pli", "ccm fir", "goog-remb"]);
  assertEquals(video.extmaps, []);
  assertEquals(video.rids, []);
});

Deno.test("OBS 32.1: per-m-line transport, MID+RID extmaps, rids and simulcast, no SSRCs", () => {
  const video = parseSdp(OBS_32_SIMULCAST).media[1];
  assertEquals(video.iceUfrag, "Lm3s");
  assertEquals(video.extmaps, [
    { id: 1, uri: "urn:ietf:params:rtp-hdrext:sdes:mid" },
    { id: 2, uri: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" },
  ]);
  assertEquals(video.rids.map((r) => [r.id, r.direction]), [["0", "send"], ["1", "send"], [
    "2",
    "send",
  ]]);
  assertEquals(video.simulcast, "send 0;1;2");
  assertEquals(video.ssrcs, []);
});

Deno.test("Chromium: formats in m-line order, rtx entries, simulcast rids q/h/f", () => {
  const video = parseSdp(CHROMIUM).media[1];
  assertEquals(video.formats.slice(0, 4), ["96", "97", "98", "99"]);
  const rtx = video.codecs.find((c) => c.payloadType === 97)!;
  assertEquals([rtx.name, rtx.fmtp], ["rtx", "apt=96"]);
  assertEquals(video.ssrcs, [2231627014, 632943048]);
  assert(video.attributes.includes("rtcp-rsize"));
  const simulcast = parseSdp(CHROMIUM_SIMULCAST).media[1];
  assertEquals(simulcastRids(simulcast.simulcast), ["q", "h", "f"]);
});

Deno.test("GStreamer: port 0 + bundle-only m-line, candidates kept per m-line", () => {
  const offer = parseSdp(GSTREAMER);
  assertEquals(offer.bundle, ["video0", "audio1"]);
  const [video, audio] = offer.media;
  assertEquals([video.port, video.bundleOnly, video.candidates.length], [9, false, 3]);
  assertEquals([audio.port, audio.bundleOnly, audio.mid], [0, true, "audio1"]);
  assertEquals(audio.codecs[0].name, "OPUS");
});

Deno.test("aiortc: the same extmap id means different extensions per m-line", () => {
  const [audio, video] = parseSdp(AIORTC).media;
  assertEquals(audio.extmaps[1], { id: 2, uri: "urn:ietf:params:rtp-hdrext:ssrc-audio-level" });
  assertEquals(video.extmaps[1], {
    id: 2,
    uri: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  });
  assertEquals(audio.direction, "sendrecv");
});

Deno.test("LF-only line endings, trailing spaces and a session-level direction", () => {
  const text = [
    "v=0  ",
    "o=- 1 1 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=sendonly",
    "a=ice-lite",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=mid:a",
    "a=rtpmap:111 opus/48000/2",
    "a=extmap:3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=rtcp-fb:* nack",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "a=mid:v",
    "a=inactive",
    "",
  ].join("\n");
  const offer = parseSdp(text);
  assertEquals(offer.iceLite, true);
  assertEquals(offer.media.map((m) => m.direction), ["sendonly", "inactive"]);
  assertEquals(offer.media[0].extmaps, [{ id: 3, uri: "urn:ietf:params:rtp-hdrext:sdes:mid" }]);
  assert(offer.media[0].attributes.includes("rtcp-fb-wildcard nack"));
});

Deno.test("malformed SDP → SdpParseError naming the problem", () => {
  const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
  const rows: [string, string, string][] = [
    ["empty", "", "empty"],
    ["blank lines", "\r\n\r\n  \n", "empty"],
    ["no version", "o=- 1 1 IN IP4 0.0.0.0\r\n", "v=0"],
    ["not type=value", head + "hello world\r\n", "line 5"],
    ["upper-case type", head + "M=video 9 RTP/AVP 96\r\n", "line 5"],
    ["no m-lines", head, "no m= sections"],
    ["short m-line", head + "m=video 9\r\n", "malformed m= line"],
    ["port out of range", head + "m=video 70000 UDP/TLS/RTP/SAVPF 96\r\n", "bad port"],
    ["port not a number", head + "m=video x UDP/TLS/RTP/SAVPF 96\r\n", "bad port"],
    ["bad rtpmap", head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n", "rtpmap"],
    ["extmap id 0", head + "m=video 9 P 96\r\na=extmap:0 urn:x\r\n", "extmap id"],
    ["extmap id 256", head + "m=video 9 P 96\r\na=extmap:256 urn:x\r\n", "extmap id"],
    ["extmap without uri", head + "m=video 9 P 96\r\na=extmap:4\r\n", "malformed extmap"],
    ["rid without direction", head + "m=video 9 P 96\r\na=rid:q\r\n", "malformed rid"],
    ["rid with a bad direction", head + "m=video 9 P 96\r\na=rid:q sendrecv\r\n", "malformed rid"],
  ];
  for (const [what, text, message] of rows) {
    const error = assertThrows(() => parseSdp(text), SdpParseError, message);
    assert(error.message.length < 200, `${what}: the message quotes at most a short excerpt`);
  }
});

Deno.test("a long garbage line is quoted truncated", () => {
  const error = assertThrows(() => parseSdp("v=0\r\n" + "x".repeat(100_000)), SdpParseError);
  assert(error.message.length < 100, error.message);
});

Deno.test("parseFmtp: lower-case keys, trimmed values, parts without = ignored", () => {
  assertEquals(
    [...parseFmtp("Profile-Level-Id=42e01f; packetization-mode=1;;bogus;apt = 96")],
    [["profile-level-id", "42e01f"], ["packetization-mode", "1"], ["apt", "96"]],
  );
  assertEquals(parseFmtp("").size, 0);
});

Deno.test("simulcastRids: send list in order, alternatives and paused markers flattened", () => {
  const rows: [string | undefined, string[]][] = [
    [undefined, []],
    ["send 0;1;2", ["0", "1", "2"]],
    ["send h;~m,l", ["h", "m", "l"]],
    ["recv a;b", []],
    ["recv a send q;f", ["q", "f"]],
  ];
  for (const [value, rids] of rows) assertEquals(simulcastRids(value), rids, String(value));
});
