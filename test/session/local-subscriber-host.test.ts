// The in-thread SubscriberHost (the one each viewer worker runs too): every SubscriberCommand
// reaches the viewer's consumer or transport, snapshots read it back as plain data, failures
// are RouterErrors with a code, a publisher change the viewer cannot follow ends it, and
// nothing is left open; a room subscriber is driven the same way (commands by producer id,
// offers and bindings as events, answers refused by code). No media flows: the transports only
// exist.
import { assert, assertEquals } from "@std/assert";
import { ExtensionMap } from "../../src/rtp/header-extensions.ts";
import { LocalSubscriberHost } from "../../src/session/local-subscriber-host.ts";
import { parseSdp, type SdpCodec } from "../../src/session/sdp.ts";
import type { SubscriberEvent } from "../../src/session/subscriber-host.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { Router } from "../../src/sfu/router.ts";
import { RouterError } from "../../src/sfu/router-protocol.ts";
import { TrackPriority } from "../../src/sfu/subscriber-allocator.ts";
import { tsSrtpBackend } from "../../src/transport/srtp-ts.ts";
import { CHROMIUM_WHEP, fingerprint } from "../support/offers.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";

/** The viewer's own codecs stand in for the publisher's (they match by name and rate). */
const offered = parseSdp(CHROMIUM_WHEP);
const codecNamed = (name: string): SdpCodec =>
  offered.media.flatMap((m) => m.codecs).find((c) => c.name.toLowerCase() === name)!;

function producer(
  kind: "audio" | "video",
  codecName: "opus" | "vp8" | "h264",
  participant = "",
): Producer {
  const codec = codecNamed(codecName);
  return new Producer({
    participant,
    kind,
    mid: kind === "audio" ? "0" : "1",
    codecName,
    payloadType: codec.payloadType,
    clockRate: codec.clockRate,
    rids: kind === "video" ? ["q", "h", "f"] : [],
    extensions: new ExtensionMap(),
    requestKeyframe: () => {},
  });
}

async function withHost(
  fn: (host: LocalSubscriberHost, router: Router, events: SubscriberEvent[]) => Promise<void>,
): Promise<void> {
  const host = new LocalSubscriberHost({
    network: { announcedIps: ["127.0.0.1"], bindIp: "127.0.0.1" },
    srtp: tsSrtpBackend,
    connectTimeoutMs: 60_000,
  });
  const events: SubscriberEvent[] = [];
  host.listen((event) => events.push(event));
  const router = new Router("live");
  const codecs = new Map<Producer, SdpCodec>();
  host.observe({ router, codecOf: (p) => codecs.get(p) ?? codecNamed(p.codecName) });
  try {
    await fn(host, router, events);
  } finally {
    await host.close();
    router.close();
    await settleWeriftTimers();
  }
}

Deno.test("local subscriber host: commands reach the consumer, snapshots read it back", async () => {
  await withHost(async (host, router) => {
    router.replaceProducers([producer("audio", "opus"), producer("video", "vp8")]);
    const created = await host.create("v1", "live", CHROMIUM_WHEP);
    assert(created.answer.startsWith("v=0"));
    assertEquals(created.snapshot.consumers.map((c) => c.kind).sort(), ["audio", "video"]);
    const video = created.snapshot.consumers.find((c) => c.kind === "video")!;
    assertEquals(video.producer, router.producerOfKind("video")!.id);
    assertEquals(structuredClone(created), created, "plain data");

    const session = host.sessions.get("v1")!;
    const consumer = session.consumers.find((c) => c.kind === "video")!;
    host.command("v1", { t: "pin", mid: video.mid, rid: "h" });
    assertEquals(consumer.pinnedRid, "h");
    host.command("v1", { t: "temporal", mid: video.mid, pinned: 0 });
    assertEquals(consumer.pinnedTemporal, 0);
    host.command("v1", { t: "caps", mid: video.mid, maxHeight: 360 });
    assertEquals([consumer.pinnedRid, consumer.maxHeight], [null, 360]);
    host.command("v1", { t: "priority", mid: video.mid, priority: TrackPriority.screen });
    assertEquals(consumer.priority, TrackPriority.screen);
    host.command("v1", { t: "maxHeight", mid: video.mid, maxHeight: 0 });
    assert(consumer.paused, "a maxHeight of 0 pauses the track");
    host.command("v1", {
      t: "restartIce",
      remoteUfrag: "ufragB",
      remotePwd: "p".repeat(24),
      iceUfrag: "loca",
      icePwd: "x".repeat(24),
    });
    assertEquals(session.remoteIceUfrag, "ufragB");
    host.command("nobody", { t: "pin", mid: video.mid, rid: null }); // ignored

    assertEquals(host.snapshot("v1")?.connected, false);
    await host.end("v1", "deleted");
    assert(session.closed);
    assertEquals(host.snapshot("v1"), undefined);
    assertEquals(router.consumers.size, 0);
  });
});

Deno.test("local subscriber host: failures are RouterErrors with a code, and leave nothing", async () => {
  await withHost(async (host, router) => {
    const code = async (stream: string, offer: string) => {
      const error = await host.create("v", stream, offer).then(() => undefined, (e) => e);
      assert(error instanceof RouterError, String(error));
      return error.code;
    };
    assertEquals(await code("live", CHROMIUM_WHEP), "no-source");
    router.replaceProducers([producer("audio", "opus"), producer("video", "vp8")]);
    assertEquals(await code("other", CHROMIUM_WHEP), "no-source");
    assertEquals(await code("live", "not sdp"), "bad-request");
    assertEquals(await code("live", CHROMIUM_WHEP.replace(/recvonly/g, "sendonly")), "unsupported");
    assertEquals(host.sessions.size, 0);
  });
});

Deno.test("local subscriber host: a new publisher with another codec ends the viewer (publisher_left)", async () => {
  await withHost(async (host, router, events) => {
    router.replaceProducers([producer("audio", "opus"), producer("video", "vp8")]);
    await host.create("v1", "live", CHROMIUM_WHEP);
    router.replaceProducers([producer("audio", "opus"), producer("video", "vp8")]);
    assertEquals(events.filter((e) => e.t === "ended"), [], "same codecs: re-bound");
    router.replaceProducers([producer("audio", "opus"), producer("video", "h264")]);
    assertEquals(events.filter((e) => e.t === "ended"), [
      { t: "ended", id: "v1", reason: "publisher_left" },
    ]);
  });
});

/** Waits for the next event of type `t` after the first `seen` (the offer timer is a turn away). */
async function nextEvent<T extends SubscriberEvent["t"]>(
  events: SubscriberEvent[],
  t: T,
  seen: number,
): Promise<Extract<SubscriberEvent, { t: T }>> {
  for (;;) {
    const found = events.filter((e): e is Extract<SubscriberEvent, { t: T }> => e.t === t);
    if (found.length > seen) return found[seen];
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A browser-like answer to a subscribe offer: recvonly, the client's transport, DTLS active. */
function answerTo(offer: string): string {
  return offer
    .replace(/^o=quetzal .*$/m, "o=- 42 2 IN IP4 127.0.0.1")
    .replace(/^a=ice-lite\r\n/m, "")
    .replaceAll("a=sendonly", "a=recvonly")
    .replaceAll("a=setup:actpass", "a=setup:active")
    .replace(/^a=ice-ufrag:.*$/gm, "a=ice-ufrag:ReMo")
    .replace(/^a=ice-pwd:.*$/gm, "a=ice-pwd:remotePasswordOf24Chars0")
    .replace(/^a=fingerprint:.*$/gm, `a=fingerprint:${fingerprint(7)}`)
    .replace(/^a=(ssrc|msid):.*\r\n/gm, "")
    .replace(/^a=candidate:.*$/gm, "a=candidate:9 1 udp 2130706431 127.0.0.1 9 typ host");
}

Deno.test("local subscriber host: a room subscriber is offered, bound, answered and wanted through plain-data commands", async () => {
  await withHost(async (host, router, events) => {
    const mic = producer("audio", "opus", "alice");
    const cam = producer("video", "vp8", "alice");
    router.addProducers([mic, cam]);
    await host.createRoom("r1", { stream: "live", participant: "bob", audioSlots: 2 });
    const first = await nextEvent(events, "offer", 0);
    assertEquals(first.bound.map((b) => b.mid), ["a0", "a1", "v0", "v1", "v2", "v3"]);

    // A track on an m-line already offered is announced at once; the slot needs no message.
    host.roomCommand("r1", { t: "bind", producer: cam.id });
    host.roomCommand("r1", { t: "slot", index: 0, producer: mic.id });
    host.roomCommand("r1", {
      t: "want",
      producer: cam.id,
      maxHeight: 360,
      priority: TrackPriority.stage,
    });
    assertEquals((await nextEvent(events, "bound", 0)).bound, [
      { mid: "v0", kind: "video", participant: "alice", source: "camera" },
    ]);

    // Consumers exist once the client answered; the want waiting for it applies then.
    assertEquals(host.snapshot("r1")?.consumers, []);
    await host.answer("r1", first.rev, answerTo(first.sdp));
    const consumers = host.snapshot("r1")!.consumers;
    assertEquals(consumers.map((c) => [c.mid, c.producer]).sort(), [
      ["a0", mic.id],
      ["v0", cam.id],
    ]);
    const video = host.rooms.get("r1")!.subscriber.consumerOf(cam.id)!;
    assertEquals([video.maxHeight, video.priority], [360, TrackPriority.stage]);
    host.roomCommand("r1", {
      t: "want",
      producer: cam.id,
      maxHeight: 0,
      priority: TrackPriority.camera,
    });
    // The subscriber's next tick re-splits its estimate with these (0 pauses the track).
    assertEquals([video.maxHeight, video.priority], [0, TrackPriority.camera]);

    // Refusals are RouterErrors by code: a stale rev, then a garbled answer to the ICE restart.
    const refusal = (rev: number, sdp: string) =>
      host.answer("r1", rev, sdp).then(() => undefined, (e) => e instanceof RouterError && e.code);
    assertEquals(await refusal(first.rev, answerTo(first.sdp)), "conflict");
    host.roomCommand("r1", { t: "restartIce" });
    const restart = await nextEvent(events, "offer", 1);
    assertEquals(restart.rev, first.rev + 1);
    assertEquals(await refusal(restart.rev, "not sdp"), "bad-request");

    // A resumed client gets the bindings and the offer in flight again.
    host.roomCommand("r1", { t: "resume" });
    assertEquals((await nextEvent(events, "bound", 1)).bound.length, 6);
    assertEquals((await nextEvent(events, "offer", 2)).sdp, restart.sdp);

    // A producer gone frees its m-line (announced) and its slot.
    host.roomCommand("r1", { t: "unbind", producer: cam.id });
    host.roomCommand("r1", { t: "unbind", producer: mic.id });
    assertEquals((await nextEvent(events, "bound", 2)).bound, [
      { mid: "v0", kind: "video", participant: null, source: null },
    ]);
    assertEquals(host.snapshot("r1")?.consumers, []);
    for (const event of events) assertEquals(structuredClone(event), event, "plain data");

    const session = host.rooms.get("r1")!.subscriber.session;
    await host.end("r1", "deleted");
    assert(session.closed);
    assertEquals([host.rooms.size, host.snapshot("r1")], [0, undefined]);
    host.roomCommand("r1", { t: "bind", producer: cam.id }); // ignored
    assertEquals(
      await host.answer("r1", 1, "v=0").then(() => "", (e) => e instanceof RouterError && e.code),
      "conflict",
    );
  });
});

Deno.test("local subscriber host: a room subscriber of a Router it does not observe is refused", async () => {
  await withHost(async (host) => {
    const error = await host.createRoom("r", { stream: "room:x", participant: "p", audioSlots: 3 })
      .then(() => undefined, (e) => e);
    assert(error instanceof RouterError && error.code === "not-found", String(error));
    assertEquals(host.rooms.size, 0);
  });
});
