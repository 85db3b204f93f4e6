import { assert, assertEquals, assertThrows } from "@std/assert";
import { Ext, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import type { LocalTransport } from "../../src/session/negotiation.ts";
import { parseSdp } from "../../src/session/sdp.ts";
import {
  InvalidAnswerError,
  readSubscribeAnswer,
  slotBinding,
} from "../../src/session/subscribe-answer.ts";
import {
  addSlots,
  newSubscribeDescription,
  type SubscribeDescription,
  writeSubscribeOffer,
} from "../../src/session/subscribe-offer.ts";
import { fingerprint } from "../support/offers.ts";

const LOCAL: LocalTransport = {
  iceUfrag: "LoCa",
  icePwd: "localPasswordOf24Chars00",
  fingerprint: fingerprint(99),
  setup: "actpass",
  candidates: ["candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host generation 0"],
  address: "192.0.2.1",
  port: 40000,
};

/**
 * A browser-like answer to `offer`: same m-lines, recvonly (inactive stays inactive), the
 * client's transport and DTLS role, our payload types and extension IDs echoed.
 */
function answerTo(offer: string, edit: (sdp: string) => string = (s) => s): string {
  const answer = offer
    .replace(/^o=quetzal .*$/m, "o=- 42 2 IN IP4 127.0.0.1")
    .replace(/^a=ice-lite\r\n/m, "")
    .replaceAll("a=sendonly", "a=recvonly")
    .replaceAll("a=setup:actpass", "a=setup:active")
    .replaceAll("a=ice-ufrag:LoCa", "a=ice-ufrag:ReMo")
    .replaceAll(`a=fingerprint:${LOCAL.fingerprint}`, `a=fingerprint:${fingerprint(7)}`)
    .replace(/^a=(ssrc|msid):.*\r\n/gm, "")
    .replace(/^a=candidate:.*$/gm, "a=candidate:9 1 udp 2130706431 192.0.2.9 50000 typ host");
  return edit(answer);
}

/** Applies `edit` to the m-section of `mid` only. */
function inSection(sdp: string, mid: string, edit: (section: string) => string): string {
  return sdp.split(/(?=^m=)/m).map((part) => part.includes(`a=mid:${mid}\r\n`) ? edit(part) : part)
    .join("");
}

function description(audio = 3, video = 2): SubscribeDescription {
  return newSubscribeDescription(audio, video);
}

Deno.test("subscribe offer: slots, BUNDLE, ICE-lite, actpass, one SSRC and msid per m-line", () => {
  const desc = description();
  const offer = parseSdp(writeSubscribeOffer(desc, LOCAL));
  assertEquals(offer.media.map((m) => m.mid), ["a0", "a1", "a2", "v0", "v1"]);
  assertEquals(offer.bundle, ["a0", "a1", "a2", "v0", "v1"]);
  assert(offer.iceLite);
  assert(offer.attributes.includes("extmap-allow-mixed"));
  for (const [i, media] of offer.media.entries()) {
    const slot = desc.slots[i];
    assertEquals(media.kind, slot.kind);
    assertEquals(media.direction, "sendonly");
    assertEquals(media.setup, "actpass");
    assertEquals([media.iceUfrag, media.fingerprint], [LOCAL.iceUfrag, LOCAL.fingerprint]);
    assertEquals(media.ssrcs, [slot.ssrc]);
    assertEquals(media.msid, `${slot.streamId} ${slot.trackId}`);
    assert(media.rtcpMux && media.attributes.includes("rtcp-rsize"));
    assertEquals(media.port, LOCAL.port);
  }
  const audio = offer.media[0];
  assertEquals(audio.codecs.map((c) => `${c.payloadType} ${c.name}`), ["111 opus"]);
  assert(audio.extmaps.some((e) => e.uri === ExtensionUri.audioLevel));
  const video = offer.media[3];
  assertEquals(video.codecs.map((c) => `${c.payloadType} ${c.name}`), ["96 VP8", "102 H264"]);
  assertEquals(video.codecs[1].fmtp.includes("packetization-mode=1"), true);
  assertEquals(video.codecs[1].fmtp.includes("profile-level-id=42e01f"), true);
  assertEquals(video.codecs[0].rtcpFb, [
    "nack",
    "nack pli",
    "ccm fir",
    "transport-cc",
    "goog-remb",
  ]);
  assert(!video.extmaps.some((e) => e.uri === ExtensionUri.audioLevel));
  // One ID, one extension across the BUNDLE group (RFC 8843 §9.2).
  const uriById = new Map<number, string>();
  for (const e of offer.media.flatMap((m) => m.extmaps)) {
    assertEquals(uriById.get(e.id) ?? e.uri, e.uri, `extension id ${e.id}`);
    uriById.set(e.id, e.uri);
  }
});

Deno.test("subscribe re-offer: slots keep mid, SSRC and msid; new ones follow; retired stay", () => {
  const first = description(2, 1);
  const next: SubscribeDescription = {
    ...first,
    revision: 2,
    slots: addSlots(first.slots, "video", 2).map((s) =>
      s.mid === "a1" ? { ...s, direction: "inactive" } : s
    ),
  };
  const offer1 = parseSdp(writeSubscribeOffer(first, LOCAL));
  const offer2 = parseSdp(writeSubscribeOffer(next, LOCAL));
  assertEquals(offer2.media.map((m) => m.mid), ["a0", "a1", "v0", "v1", "v2"]);
  for (const [i, media] of offer1.media.entries()) {
    assertEquals(offer2.media[i].ssrcs, media.ssrcs);
    assertEquals(offer2.media[i].msid, media.msid);
  }
  assertEquals(offer2.media[1].direction, "inactive");
  assertEquals(offer2.bundle, ["a0", "a1", "v0", "v1", "v2"], "inactive slots stay bundled");
  assertEquals(new Set(next.slots.map((s) => s.ssrc)).size, 5, "SSRCs are distinct");
  assert(writeSubscribeOffer(next, LOCAL).includes(`o=quetzal ${first.sessionId} 2 `));
});

Deno.test("subscribe answer: per m-line plan for Consumers and the client's transport", () => {
  const desc = description();
  // The client prefers H.264 on v1 (answer format order).
  const answer = readSubscribeAnswer(
    parseSdp(answerTo(
      writeSubscribeOffer(desc, LOCAL),
      (s) => inSection(s, "v1", (m) => m.replace("SAVPF 96 102", "SAVPF 102 96")),
    )),
    desc,
  );
  assertEquals(answer.transport, {
    iceUfrag: "ReMo",
    icePwd: LOCAL.icePwd,
    fingerprint: fingerprint(7),
    setup: "active",
    candidates: ["candidate:9 1 udp 2130706431 192.0.2.9 50000 typ host"],
  });
  assert(answer.rtcpRsize);
  assertEquals(answer.tracks.map((t) => t.mid), ["a0", "a1", "a2", "v0", "v1"]);
  const v0 = answer.tracks[3];
  const v1 = answer.tracks[4];
  assertEquals(v0.codecs.map((c) => c.codecName), ["vp8", "h264"]);
  assertEquals(v1.codecs.map((c) => c.codecName), ["h264", "vp8"]);
  assertEquals(v0.ssrc, desc.slots[3].ssrc);
  const binding = slotBinding(v1, "vp8")!;
  assertEquals(
    { ssrc: binding.ssrc, payloadType: binding.payloadType, mid: binding.mid },
    { ssrc: desc.slots[4].ssrc, payloadType: 96, mid: "v1" },
  );
  assertEquals(binding.mlineIndex, 4);
  assertEquals(binding.extensions.idOf(Ext.transportWideCc), 3);
  assertEquals(binding.extensions.idOf(Ext.audioLevel), 0);
  assertEquals(slotBinding(answer.tracks[0], "opus")!.extensions.idOf(Ext.audioLevel), 4);
  assertEquals(slotBinding(answer.tracks[0], "vp8"), undefined, "no VP8 on an audio slot");
});

Deno.test("subscribe answer: dropped extensions and codecs are not used", () => {
  const desc = description(1, 1);
  const answer = readSubscribeAnswer(
    parseSdp(answerTo(
      writeSubscribeOffer(desc, LOCAL),
      (s) =>
        s.replace(/^a=extmap:3 .*\r\n/gm, "")
          .replace("m=video 40000 UDP/TLS/RTP/SAVPF 96 102", "m=video 40000 UDP/TLS/RTP/SAVPF 96")
          .replace(/^a=(rtpmap|fmtp|rtcp-fb):102 .*\r\n/gm, "")
          .replace(/^a=rtcp-fb:96 goog-remb\r\n/m, ""),
    )),
    desc,
  );
  const video = answer.tracks[1];
  assertEquals(video.codecs.map((c) => c.codecName), ["vp8"]);
  assertEquals(video.codecs[0].rtcpFb, ["nack", "nack pli", "ccm fir", "transport-cc"]);
  assertEquals(slotBinding(video, "h264"), undefined);
  assertEquals(slotBinding(video, "vp8")!.extensions.idOf(Ext.transportWideCc), 0);
});

Deno.test("subscribe answer: no dependency descriptor without extmap-allow-mixed", () => {
  const desc = description(1, 1);
  const offer = writeSubscribeOffer(desc, LOCAL);
  const dd = (sdp: string) =>
    slotBinding(readSubscribeAnswer(parseSdp(sdp), desc).tracks[1], "vp8")!.extensions
      .idOf(Ext.dependencyDescriptor);
  assertEquals(dd(answerTo(offer)), 5);
  assertEquals(dd(answerTo(offer, (s) => s.replace("a=extmap-allow-mixed\r\n", ""))), 0);
});

Deno.test("subscribe answer: an inactive slot is read as inactive and binds nothing", () => {
  const first = description(1, 1);
  const desc: SubscribeDescription = {
    ...first,
    slots: first.slots.map((s) => s.kind === "video" ? { ...s, direction: "inactive" } : s),
  };
  const answer = readSubscribeAnswer(
    parseSdp(answerTo(writeSubscribeOffer(desc, LOCAL))),
    desc,
  );
  assertEquals(answer.tracks.map((t) => t.direction), ["recvonly", "inactive"]);
  assertEquals(slotBinding(answer.tracks[1], "vp8"), undefined);
});

const INVALID: [string, (sdp: string) => string, RegExp][] = [
  ["an m-line missing", (s) => s.slice(0, s.lastIndexOf("m=video")), /2 m-lines; offer 1 has 3/],
  ["mids swapped", (s) => s.replace("a=mid:v0", "a=mid:vX"), /m-line 2 \(v0\).*mid vX/],
  ["a rejected slot", (s) => s.replace(/^m=video 40000/m, "m=video 0"), /was rejected/],
  ["sendrecv", (s) => s.replace(/a=recvonly(?![\s\S]*a=recvonly)/, "a=sendrecv"), /sendrecv/],
  [
    "inactive for an active slot",
    (s) => s.replace("a=recvonly", "a=inactive"),
    /m-line 0 \(a0\) is inactive/,
  ],
  [
    "not bundled",
    (s) => s.replace(/^a=group:BUNDLE .*$/m, "a=group:BUNDLE a0 a1"),
    /m-line 2 \(v0\) is not in the answer's BUNDLE/,
  ],
  [
    "a payload type not offered",
    (s) => s.replace("UDP/TLS/RTP/SAVPF 96 102", "UDP/TLS/RTP/SAVPF 96 98"),
    /payload type 98 was not offered/,
  ],
  [
    "a payload type renamed",
    (s) => s.replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP9/90000"),
    /payload type 96 is VP9\/90000 in the answer but VP8\/90000/,
  ],
  [
    "H.264 in packetization mode 0",
    (s) => s.replace("packetization-mode=1", "packetization-mode=0"),
    /payload type 102 is H264/,
  ],
  [
    "an extension under another ID",
    (s) =>
      s.replace(
        `a=extmap:3 ${ExtensionUri.transportWideCc}`,
        `a=extmap:9 ${ExtensionUri.transportWideCc}`,
      ),
    /extension 9 .* was not offered under that ID/,
  ],
  ["setup actpass", (s) => s.replaceAll("a=setup:active", "a=setup:actpass"), /a=setup is actpass/],
  ["no fingerprint", (s) => s.replace(/^a=fingerprint:.*\r\n/gm, ""), /no a=fingerprint/],
  ["no ICE credentials", (s) => s.replace(/^a=ice-pwd:.*\r\n/gm, ""), /no a=ice-ufrag/],
];

for (const [name, edit, message] of INVALID) {
  Deno.test(`subscribe answer: ${name} → InvalidAnswerError`, () => {
    const desc = description(2, 1);
    const answer = parseSdp(answerTo(writeSubscribeOffer(desc, LOCAL), edit));
    const error = assertThrows(() => readSubscribeAnswer(answer, desc), InvalidAnswerError);
    assert(message.test(error.message), error.message);
  });
}
