import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  buildAnswer,
  InvalidOfferError,
  type LocalTransport,
  normaliseOfferForWerift,
  type OfferPlan,
  planPlay,
  planPublish,
  requireTransport,
  type SourceTrack,
  UnsupportedOfferError,
} from "../../src/session/negotiation.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import {
  AIORTC,
  CHROMIUM,
  CHROMIUM_SIMULCAST,
  CHROMIUM_WHEP,
  fingerprint,
  GSTREAMER,
  LIBDATACHANNEL,
  NO_FORWARDABLE_VIDEO,
  OBS_30,
  OBS_32_SIMULCAST,
  TWO_VIDEO_TRACKS,
  WHIP_OFFERS,
  WHIP_RECVONLY,
} from "../support/offers.ts";

const LOCAL: LocalTransport = {
  iceUfrag: "LoCa",
  icePwd: "localPasswordOf24Chars00",
  fingerprint: fingerprint(99),
  setup: "active",
  candidates: [
    "candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host generation 0",
    "candidate:2 1 udp 2130706430 198.51.100.1 40000 typ host generation 0",
  ],
  address: "192.0.2.1",
  port: 40000,
};

function publish(
  offer: string,
): { plan: OfferPlan; answer: ReturnType<typeof parseSdp>; text: string } {
  const parsed = parseSdp(offer);
  const plan = planPublish(parsed);
  requireTransport(parsed, plan);
  const text = buildAnswer(parsed, plan, LOCAL, "publish");
  return { plan, answer: parseSdp(text), text };
}

function sourcesOf(plan: OfferPlan): SourceTrack[] {
  return plan.tracks.map((t) => ({ kind: t.kind, codec: t.codec, codecName: t.codecName }));
}

/** The publisher's plan (as a stream's sources) and a viewer's answer. */
function play(publisherOffer: string, viewerOffer: string, ssrcBase = 1000) {
  const sources = sourcesOf(planPublish(parseSdp(publisherOffer)));
  const parsed = parseSdp(viewerOffer);
  const plan = planPlay(parsed, sources);
  const text = buildAnswer(parsed, plan, LOCAL, "play", (track) => ({
    ssrc: ssrcBase + track.index,
    cname: "quetzal-test",
    msid: `quetzal-live ${track.kind}`,
  }));
  return { plan, text, answer: parseSdp(text) };
}

function withFmtp(offer: string, from: string, to: string): string {
  assert(offer.includes(from), from);
  return offer.replace(from, to);
}

Deno.test("a=extmap-allow-mixed is answered when offered (Chromium sends no dependency descriptor without it), absent otherwise", () => {
  assert(CHROMIUM.includes("a=extmap-allow-mixed"));
  assert(publish(CHROMIUM).text.includes("\r\na=extmap-allow-mixed\r\n"));
  assert(play(CHROMIUM, CHROMIUM_WHEP).text.includes("a=extmap-allow-mixed"));
  const without = CHROMIUM.replace("a=extmap-allow-mixed\r\n", "");
  assert(!publish(without).text.includes("extmap-allow-mixed"));
});

Deno.test("planPublish: one codec per fixture, in the publisher's preference order", () => {
  const expected: Record<string, string[]> = {
    "OBS 30": ["0 opus/111", "1 h264/96"],
    "OBS 32.1 simulcast": ["0 opus/111", "1 h264/96"],
    "Chromium": ["0 opus/111", "1 vp8/96"],
    "Chromium simulcast": ["0 opus/111", "1 vp8/96"],
    "GStreamer": ["video0 vp8/96", "audio1 opus/97"],
    "aiortc": ["0 opus/96", "1 vp8/97"],
    "libdatachannel": ["video h264/102", "audio opus/111"],
  };
  for (const [client, offer] of Object.entries(WHIP_OFFERS)) {
    const plan = planPublish(parseSdp(offer));
    assertEquals(
      plan.tracks.map((t) => `${t.mid} ${t.codecName}/${t.codec.payloadType}`),
      expected[client],
      client,
    );
    assertEquals(plan.inactive, [], client);
  }
});

Deno.test("every offered rid is answered recv, with one simulcast:recv line in offer order", () => {
  const rows: [string, string, string[]][] = [
    ["OBS", OBS_32_SIMULCAST, ["0", "1", "2"]],
    ["Chromium", CHROMIUM_SIMULCAST, ["q", "h", "f"]],
    [
      "reordered",
      OBS_32_SIMULCAST.replace("a=simulcast:send 0;1;2", "a=simulcast:send 2;0;1"),
      ["2", "0", "1"],
    ],
    [
      "rid not listed in simulcast",
      OBS_32_SIMULCAST.replace("a=simulcast:send 0;1;2", "a=simulcast:send 1;0"),
      ["1", "0", "2"],
    ],
    ["paused and alternative", CHROMIUM_SIMULCAST.replace("send q;h;f", "send ~q;h,f"), [
      "q",
      "h",
      "f",
    ]],
  ];
  for (const [what, offer, rids] of rows) {
    const { plan, text } = publish(offer);
    assertEquals(plan.tracks[1].rids, rids, what);
    assertEquals(text.match(/^a=rid:.*$/gm), rids.map((r) => `a=rid:${r} recv`), what);
    assertEquals(text.match(/^a=simulcast:.*$/gm), [`a=simulcast:recv ${rids.join(";")}`], what);
  }
  // Without simulcast there is neither.
  const { text } = publish(OBS_30);
  assert(!/^a=(rid|simulcast)/m.test(text));
});

Deno.test("simulcast answers keep the RID extensions so the layers can be told apart", () => {
  const { answer } = publish(CHROMIUM_SIMULCAST);
  const uris = answer.media[1].extmaps.map((e) => `${e.id} ${e.uri}`);
  assert(uris.includes("10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"), uris.join());
  assert(uris.includes("4 urn:ietf:params:rtp-hdrext:sdes:mid"), uris.join());
  // Extensions Quetzal does not use are not accepted.
  assert(!uris.some((u) => u.includes("video-orientation") || u.includes("playout-delay")));
});

Deno.test("H264 is matched on packetization-mode only, never on profile-level-id", () => {
  for (const profile of ["42e01f", "640032", "4d001f", "f4001f"]) {
    const offer = withFmtp(OBS_30, "profile-level-id=42e01f", `profile-level-id=${profile}`);
    assertEquals(planPublish(parseSdp(offer)).tracks[1].codecName, "h264", profile);
  }
  const noMode = withFmtp(OBS_30, "packetization-mode=1;", "");
  assertThrows(() => planPublish(parseSdp(noMode)), UnsupportedOfferError, "H264");
  // Chromium lists pm=0 entries too: the pm=1 one is chosen when H264 comes first.
  const h264First = CHROMIUM.replace(
    "UDP/TLS/RTP/SAVPF 96 97 98",
    "UDP/TLS/RTP/SAVPF 104 102 96 97 98",
  );
  const track = planPublish(parseSdp(h264First)).tracks[1];
  assertEquals([track.codecName, track.codec.payloadType], ["h264", 102]);
});

Deno.test("WHIP offers Quetzal will not take → UnsupportedOfferError / InvalidOfferError", () => {
  const rows: [string, string, new (message: string) => Error, string][] = [
    ["two video tracks", TWO_VIDEO_TRACKS, UnsupportedOfferError, "more than one video track"],
    [
      "two audio tracks",
      OBS_30.replace("m=video", "m=audio").replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1"),
      UnsupportedOfferError,
      "more than one audio track",
    ],
    ["recvonly", WHIP_RECVONLY, UnsupportedOfferError, "recvonly"],
    ["inactive", OBS_30.replaceAll("a=sendonly", "a=inactive"), UnsupportedOfferError, "inactive"],
    ["no forwardable codec", NO_FORWARDABLE_VIDEO, UnsupportedOfferError, "offered: H264, MP4V-ES"],
    [
      "data channel",
      OBS_30 + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n",
      UnsupportedOfferError,
      "application",
    ],
    ["no mid", OBS_30.replace("a=mid:1\r\n", ""), InvalidOfferError, "a=mid"],
    [
      "all rejected",
      OBS_30.replaceAll("m=audio 9", "m=audio 0").replace("m=video 9", "m=video 0"),
      UnsupportedOfferError,
      "no audio or video",
    ],
  ];
  for (const [what, offer, type, message] of rows) {
    try {
      assertThrows(() => planPublish(parseSdp(offer)), type, message);
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`);
    }
  }
  // Audio offered as G.722 only: the message names what was offered (auxiliary codecs omitted).
  const g722 = OBS_30.replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 9 13")
    .replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:9 G722/8000\r\na=rtpmap:13 CN/8000");
  const error = assertThrows(() => planPublish(parseSdp(g722)), UnsupportedOfferError);
  assertStringIncludes(error.message, "offered: G722;");
});

Deno.test("requireTransport: ICE credentials, fingerprint and UDP/TLS/RTP/SAVPF", () => {
  const check = (offer: string) => {
    const parsed = parseSdp(offer);
    requireTransport(parsed, planPublish(parsed));
  };
  for (const offer of Object.values(WHIP_OFFERS)) check(offer);
  assertThrows(() => check(OBS_30.replace(/^a=ice-pwd:.*\r\n/m, "")), InvalidOfferError, "ice-pwd");
  assertThrows(
    () => check(OBS_30.replace(/^a=fingerprint:.*\r\n/m, "")),
    InvalidOfferError,
    "fingerprint",
  );
  assertThrows(
    () => check(OBS_30.replaceAll("UDP/TLS/RTP/SAVPF", "RTP/AVP")),
    UnsupportedOfferError,
    "RTP/AVP",
  );
});

Deno.test("the publish answer: recvonly, transport, every candidate and end-of-candidates per m-line", () => {
  for (const [client, offer] of Object.entries(WHIP_OFFERS)) {
    const { text, answer } = publish(offer);
    assertEquals(answer.bundle, answer.media.map((m) => m.mid!), client);
    assert(answer.iceLite, client);
    for (const media of answer.media) {
      assertEquals(media.direction, "recvonly", client);
      assertEquals(media.port, LOCAL.port, client);
      assertEquals([media.iceUfrag, media.icePwd, media.fingerprint], [
        LOCAL.iceUfrag,
        LOCAL.icePwd,
        LOCAL.fingerprint,
      ]);
      assertEquals(media.setup, "active", client);
      assertEquals(media.candidates, LOCAL.candidates, client);
      assertEquals(media.codecs.length, 1, `${client}: one codec per m-line`);
      assert(media.rtcpMux, client);
      assert(!media.attributes.includes("rtcp-mux-only"), "RFC 8858 §4.3: never in answers");
      assert(!media.bundleOnly, "bundle-only is never in answers");
    }
    assertEquals(text.match(/^a=end-of-candidates$/gm)?.length, answer.media.length, client);
    assert(text.endsWith("\r\n") && !/[^\r]\n/.test(text), `${client}: CRLF line endings`);
  }
});

Deno.test("setup follows LocalTransport.setup", () => {
  const parsed = parseSdp(OBS_30.replace("a=setup:actpass", "a=setup:active"));
  const plan = planPublish(parsed);
  const text = buildAnswer(parsed, plan, { ...LOCAL, setup: "passive" }, "publish");
  assertEquals(text.match(/^a=setup:.*$/gm), ["a=setup:passive", "a=setup:passive"]);
});

Deno.test("GStreamer's bundle-only m-line is a bundled track, answered with the shared port", () => {
  const { plan, answer } = publish(GSTREAMER);
  assertEquals(plan.tracks.map((t) => t.mid), ["video0", "audio1"]);
  assertEquals(answer.bundle, ["video0", "audio1"]);
  assertEquals(answer.media[1].port, LOCAL.port);
  assertEquals(answer.media[1].codecs[0].payloadType, 97);
  // A port-0 m-line without bundle-only is a rejected one: answered port 0, outside BUNDLE.
  const rejected = GSTREAMER.replace("a=bundle-only\r\n", "");
  const out = publish(rejected);
  assertEquals(out.plan.inactive.map((i) => [i.mid, i.reason]), [["audio1", "rejected"]]);
  assertEquals(out.answer.bundle, ["video0"]);
  assertEquals([out.answer.media[1].port, out.answer.media[1].direction], [0, "inactive"]);
});

Deno.test("extension IDs are kept per m-line (aiortc's id 2 clash), in the offerer's numbers", () => {
  const { answer } = publish(AIORTC);
  assertEquals(answer.media[0].extmaps.map((e) => `${e.id} ${e.uri}`), [
    "1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  ]);
  assertEquals(answer.media[1].extmaps.map((e) => `${e.id} ${e.uri}`), [
    "1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  ]);
  const dc = publish(LIBDATACHANNEL).answer;
  assertEquals(dc.media.map((m) => m.extmaps.map((e) => e.id)), [[1], [1]]);
});

Deno.test("the publish answer keeps the publisher's fmtp and only feedback Quetzal acts on", () => {
  const { answer, text } = publish(OBS_30);
  assertEquals(
    answer.media[1].codecs[0].fmtp,
    "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
  );
  assertEquals(answer.media[1].codecs[0].rtcpFb, ["nack", "nack pli", "ccm fir", "goog-remb"]);
  assertStringIncludes(text, "a=rtpmap:111 opus/48000/2");
  const chromium = publish(CHROMIUM).answer.media[1].codecs[0];
  assertEquals(chromium.rtcpFb.sort(), [
    "ccm fir",
    "goog-remb",
    "nack",
    "nack pli",
    "transport-cc",
  ]);
});

Deno.test("WHEP: the answer uses the viewer's payload types and extension IDs, sendonly, a=ssrc", () => {
  const { answer, plan } = play(OBS_30, CHROMIUM_WHEP);
  const [audio, video] = answer.media;
  assertEquals(answer.media.map((m) => m.direction), ["sendonly", "sendonly"]);
  assertEquals(audio.codecs.map((c) => c.payloadType), [111]);
  // OBS's H264 is on PT 96; Chromium's 42e01f packetization-mode=1 entry is PT 106.
  assertEquals(video.codecs.map((c) => [c.payloadType, c.name]), [[106, "H264"]]);
  assertEquals(plan.tracks[1].codecName, "h264");
  assertEquals(video.extmaps.map((e) => `${e.id} ${e.uri}`).sort(), [
    "2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "4 urn:ietf:params:rtp-hdrext:sdes:mid",
  ]);
  // No rid/repaired-rid towards a viewer: it gets one plain stream.
  assert(!video.extmaps.some((e) => e.uri.includes("stream-id")));
  assertEquals(video.ssrcs, [1001]);
  assertEquals(audio.ssrcs, [1000]);
  assertEquals(video.msid, "quetzal-live video");
  assertEquals(video.rids, []);
  assertEquals(answer.media[0].candidates, LOCAL.candidates);
});

Deno.test("WHEP: H264 matched on packetization-mode; the closest profile is preferred", () => {
  // A High-profile publisher: Chromium has no 6400 entry, so the first pm=1 one is used.
  const high = withFmtp(OBS_30, "profile-level-id=42e01f", "profile-level-id=640c1f");
  assertEquals(play(high, CHROMIUM_WHEP).answer.media[1].codecs[0].payloadType, 102);
  // A Main-profile publisher gets Chromium's 4d001f pm=1 entry (PT 127).
  const main = withFmtp(OBS_30, "profile-level-id=42e01f", "profile-level-id=4d001f");
  assertEquals(play(main, CHROMIUM_WHEP).answer.media[1].codecs[0].payloadType, 127);
});

Deno.test("WHEP: a viewer without the stream's codec → 422-class error naming the codec", () => {
  const vp8Viewer = CHROMIUM_WHEP.replace(
    /^m=video 9 UDP\/TLS\/RTP\/SAVPF .*$/m,
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
  );
  const error = assertThrows(() => play(OBS_30, vp8Viewer), UnsupportedOfferError);
  assertStringIncludes(error.message, "H264/90000");
  assertStringIncludes(error.message, "packetization-mode=1");
  // Only packetization-mode=0 H264 in the offer is not enough either.
  const pm0 = CHROMIUM_WHEP.replace(
    /^m=video 9 UDP\/TLS\/RTP\/SAVPF .*$/m,
    "m=video 9 UDP/TLS/RTP/SAVPF 104 108",
  );
  assertThrows(() => play(OBS_30, pm0), UnsupportedOfferError, "H264");
  // VP9 profile 2 is not VP9 profile 0.
  const vp9Publisher = CHROMIUM.replace("UDP/TLS/RTP/SAVPF 96 97 98", "UDP/TLS/RTP/SAVPF 98 96 97");
  const vp9p2Viewer = CHROMIUM_WHEP.replace(
    /^m=video 9 UDP\/TLS\/RTP\/SAVPF .*$/m,
    "m=video 9 UDP/TLS/RTP/SAVPF 100 101",
  );
  assertThrows(() => play(vp9Publisher, vp9p2Viewer), UnsupportedOfferError, "VP9");
});

Deno.test("WHEP: sendonly viewer offers are refused; extra and foreign m-lines are inactive", () => {
  assertThrows(
    () => play(OBS_30, CHROMIUM_WHEP.replaceAll("a=recvonly", "a=sendonly")),
    UnsupportedOfferError,
    "recvonly",
  );
  // Audio-only stream: the viewer's video m-line stays bundled but inactive.
  const audioOnly = OBS_30.slice(0, OBS_30.indexOf("m=video")).replace("BUNDLE 0 1", "BUNDLE 0");
  const { answer } = play(audioOnly, CHROMIUM_WHEP);
  assertEquals(answer.media.map((m) => m.direction), ["sendonly", "inactive"]);
  assertEquals(answer.bundle, ["0", "1"]);
  // A data channel m-line in a WHEP offer is rejected: port 0 and outside the BUNDLE group,
  // which browsers require of rejected m-lines (RFC 8843 §7.3.3).
  const withData = CHROMIUM_WHEP.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2") +
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n" +
    "a=sctp-port:5000\r\n";
  const dc = play(OBS_30, withData).answer;
  assertEquals(dc.media[2].port, 0);
  assertEquals(dc.bundle, ["0", "1"]);
});

Deno.test("normaliseOfferForWerift: per-m-line transport, one codec, no simulcast or extmaps", () => {
  const parsed = parseSdp(OBS_32_SIMULCAST);
  const text = normaliseOfferForWerift(parsed, planPublish(parsed));
  const normal = parseSdp(text);
  assertEquals(normal.bundle, ["0", "1"]);
  for (const media of normal.media) {
    assertEquals(media.codecs.length, 1);
    assertEquals(media.extmaps, []);
    assertEquals(media.rids, []);
    assertEquals(media.iceUfrag, "Lm3s");
    assertEquals(media.setup, "actpass");
  }
  // Session-level OBS 30 attributes are moved into the m-lines; bundle-only gets a port.
  const obs = parseSdp(OBS_30);
  assert(
    /^m=audio 9 .*\r\nc=.*\r\na=mid:0\r\na=ice-ufrag:Qz7e/m.test(
      normaliseOfferForWerift(obs, planPublish(obs)),
    ),
  );
  const gst = parseSdp(GSTREAMER);
  assertEquals(parseSdp(normaliseOfferForWerift(gst, planPublish(gst))).media[1].port, 9);
});

Deno.test("planPublish: a room participant's offer maps each m-line to its source", () => {
  // Camera and screen at once: two video m-lines (TWO_VIDEO_TRACKS has mids 0, 1, 2).
  const offer = parseSdp(TWO_VIDEO_TRACKS);
  const mids = offer.media.map((m) => m.mid!);
  const plan = planPublish(offer, {
    maxPerKind: 2,
    sources: { [mids[0]]: "microphone", [mids[1]]: "camera", [mids[2]]: "screen" },
  });
  assertEquals(plan.tracks.map((t) => [t.kind, t.source]), [
    ["audio", "microphone"],
    ["video", "camera"],
    ["video", "screen"],
  ]);
  // WHIP keeps its rule and its message.
  assertThrows(
    () => planPublish(offer),
    UnsupportedOfferError,
    "WHIP allows one audio and one video",
  );
  // Sources must be named, fit the kind, and not repeat.
  assertThrows(
    () => planPublish(offer, { maxPerKind: 2, sources: { [mids[0]]: "microphone" } }),
    InvalidOfferError,
    "has no source",
  );
  assertThrows(
    () =>
      planPublish(offer, {
        maxPerKind: 2,
        sources: { [mids[0]]: "camera", [mids[1]]: "camera", [mids[2]]: "screen" },
      }),
    InvalidOfferError,
    'is audio but its source is "camera"',
  );
  assertThrows(
    () =>
      planPublish(offer, {
        maxPerKind: 2,
        sources: { [mids[0]]: "microphone", [mids[1]]: "screen", [mids[2]]: "screen" },
      }),
    InvalidOfferError,
    'publishes "screen" twice',
  );
  // A WHIP track is a microphone and a camera.
  assertEquals(planPublish(parseSdp(OBS_30)).tracks.map((t) => t.source), ["microphone", "camera"]);
});
