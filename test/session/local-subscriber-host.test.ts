// The in-thread SubscriberHost (the one each viewer worker runs too): every SubscriberCommand
// reaches the viewer's consumer or transport, snapshots read it back as plain data, failures
// are RouterErrors with a code, a publisher change the viewer cannot follow ends it, and
// nothing is left open. No media flows: the transports only exist.
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
import { CHROMIUM_WHEP } from "../support/offers.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";

/** The viewer's own codecs stand in for the publisher's (they match by name and rate). */
const offered = parseSdp(CHROMIUM_WHEP);
const codecNamed = (name: string): SdpCodec =>
  offered.media.flatMap((m) => m.codecs).find((c) => c.name.toLowerCase() === name)!;

function producer(kind: "audio" | "video", codecName: "opus" | "vp8" | "h264"): Producer {
  const codec = codecNamed(codecName);
  return new Producer({
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
