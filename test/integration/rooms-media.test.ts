/**
 * Rooms carry media (rooms.md §5): werift participants in-process over the room WebSocket of
 * a loopback server, real ICE, DTLS and SRTP both ways, nothing mocked at the media layer.
 * Publishing, receiving, re-offers, late joiners, mutes and the room's limits.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { counters, DropReason } from "../../src/observability/counters.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import {
  checkPayloads,
  pumpUntil,
  type RoomClient,
  RoomRequestError,
  TOKEN,
  withRoom,
} from "../support/room-client.ts";
import { waitFor } from "../support/werift-client.ts";
import { parseExposition, sampleValue } from "../support/prom-parse.ts";

loadLibsrtp();

/** `rx` receives `tx`'s `source` (a track m-line) or voice (a slot): at least `n` packets. */
function receives(rx: RoomClient, tx: RoomClient, source: "camera" | "screen" | "voice", n = 10) {
  return () =>
    rx.packetsOn(source === "voice" ? rx.slotOf(tx.self) : rx.midOf(tx.self, source)) >= n;
}

Deno.test("three participants publish camera and microphone; each receives the other two intact", async () => {
  await withRoom({}, async ({ join, server, room }) => {
    const clients = [
      await join("speaker", "A"),
      await join("speaker", "B"),
      await join("speaker", "C"),
    ];
    await Promise.all(clients.map((c) => c.subscribed()));
    for (const c of clients) await c.publish("camera", "microphone");
    const flowing = () =>
      clients.every((rx) =>
        clients.every((tx) =>
          tx === rx || (receives(rx, tx, "camera")() && receives(rx, tx, "voice")())
        )
      );
    await pumpUntil(clients, flowing, "every camera and voice at every other participant");
    for (const rx of clients) {
      for (const tx of clients) {
        if (tx === rx) continue;
        assertGreater(checkPayloads(rx, rx.midOf(tx.self, "camera")!, tx, "camera"), 0);
        assertGreater(checkPayloads(rx, rx.slotOf(tx.self)!, tx, "microphone"), 0);
      }
      // Nobody hears or sees itself.
      assertEquals(rx.midOf(rx.self, "camera"), undefined);
      assertEquals(rx.slotOf(rx.self), undefined);
    }
    // Six peers: a publish and a subscribe connection each.
    assertEquals(server.manager.count("publisher") + server.manager.count("viewer"), 6);
    // The default server has viewer workers: the three subscribe connections run there, spread
    // over both (the least loaded worker takes each), and nothing else does.
    const placements = [...server.workers!.placements().values()];
    assertEquals(placements.length, 3);
    assertEquals(new Set(placements).size, 2);
    // The room gauges: 3 cameras and 3 microphones published; each forwarded to 2 others. The
    // subscriptions are counted from the subscribers' snapshots, which a worker reports every
    // 250 ms: wait for the report that follows the last consumer.
    const scrape = async () => parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    let metrics = await scrape();
    const gauge = (name: string, source: string) => sampleValue(metrics, name, { source });
    const subscriptions = () => [
      gauge("quetzal_room_subscriptions", "camera"),
      gauge("quetzal_room_subscriptions", "microphone"),
    ];
    for (let i = 0; i < 50 && subscriptions().join() !== "6,6"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      metrics = await scrape();
    }
    assertEquals(gauge("quetzal_room_publications", "camera"), 3);
    assertEquals(gauge("quetzal_room_publications", "microphone"), 3);
    assertEquals(gauge("quetzal_room_subscriptions", "camera"), 6);
    assertEquals(gauge("quetzal_room_subscriptions", "microphone"), 6);
    assertGreater(sampleValue(metrics, "quetzal_renegotiations_total", { pc: "sub" })!, 2);
    // The API lists each participant's tracks, read from the Router's snapshot.
    const detail = await (await fetch(`${server.url}/api/rooms/${room.id}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    })).json();
    assertEquals(detail.participants.length, 3);
    for (const p of detail.participants) {
      const sources = p.tracks.map((t: { source: string }) => t.source).sort();
      assertEquals(sources, ["camera", "microphone"], `tracks of ${p.name}`);
    }
  });
});

Deno.test("camera and screen share at once from one participant, on two m-lines", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await b.subscribed();
    await a.publish("camera");
    // The screen share is a re-offer on the same publish connection.
    await a.publish("screen");
    await pumpUntil([a], () => receives(b, a, "camera")() && receives(b, a, "screen")(), "both");
    const camera = b.midOf(a.self, "camera")!;
    const screen = b.midOf(a.self, "screen")!;
    assert(camera !== screen);
    assertGreater(checkPayloads(b, camera, a, "camera"), 0);
    assertGreater(checkPayloads(b, screen, a, "screen"), 0);
  });
});

Deno.test("unpublish and republish: the m-line is freed, then carries the new track", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await b.subscribed();
    await a.publish("camera", "microphone");
    await pumpUntil([a], receives(b, a, "camera"), "A's camera at B");
    const mid = b.midOf(a.self, "camera")!;
    const removed = b.signal.next((m) => m.t === "producers" && m.removed.length > 0, "removed");
    await a.unpublish("camera");
    await removed;
    await waitFor(() => b.bindings.get(mid)?.participant === null, 5000, "the m-line freed");
    const offers = b.answered.length;
    await a.publish("camera");
    await waitFor(() => b.midOf(a.self, "camera") !== undefined, 5000, "A's camera bound again");
    const before = b.packetsOn(b.midOf(a.self, "camera"));
    await pumpUntil([a], () => b.packetsOn(b.midOf(a.self, "camera")) >= before + 10, "again");
    assertGreater(checkPayloads(b, b.midOf(a.self, "camera")!, a, "camera"), 0);
    // A freed m-line is reused: no renegotiation of the subscribe connection.
    assertEquals(b.answered.length, offers);
  });
});

Deno.test("a participant joining late gets everything already published", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await a.publish("camera", "microphone");
    await b.publish("camera", "microphone", "screen");
    const late = await join("listener", "Late");
    assertEquals(late.joined!.producers.length, 5);
    await late.subscribed();
    const all = () =>
      receives(late, a, "camera")() && receives(late, a, "voice")() &&
      receives(late, b, "camera")() && receives(late, b, "screen")() &&
      receives(late, b, "voice")();
    await pumpUntil([a, b], all, "everything at the late joiner");
    assertGreater(checkPayloads(late, late.midOf(b.self, "screen")!, b, "screen"), 0);
  });
});

Deno.test("a muted microphone is not forwarded", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await b.subscribed();
    await a.publish("microphone");
    await pumpUntil([a], receives(b, a, "voice"), "A's voice at B");
    const muted = await a.signal.request({ t: "mute", source: "microphone", muted: true });
    assert(muted.t === "reply" && muted.ok);
    // Packets in flight may still land: count from the first one the server dropped as muted.
    const dropped = counters.packetsDropped[DropReason.muted];
    await pumpUntil([a], () => counters.packetsDropped[DropReason.muted] > dropped, "a drop");
    const heard = b.packetsOn(b.slotOf(a.self) ?? "a0");
    const base = counters.packetsDropped[DropReason.muted];
    await pumpUntil([a], () => counters.packetsDropped[DropReason.muted] >= base + 30, "drops");
    assertEquals(b.packetsOn(b.slotOf(a.self) ?? "a0"), heard);
    // Unmuted, the voice comes back.
    await a.signal.request({ t: "mute", source: "microphone", muted: false });
    await pumpUntil([a], () => b.packetsOn(b.slotOf(a.self) ?? "a0") >= heard + 10, "voice back");
  });
});

Deno.test("a microphone published muted is heard once unmuted", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await b.subscribed();
    const muted = await a.signal.request({ t: "mute", source: "microphone", muted: true });
    assert(muted.t === "reply" && muted.ok);
    const dropped = counters.packetsDropped[DropReason.muted];
    await a.publish("microphone");
    await pumpUntil([a], () => counters.packetsDropped[DropReason.muted] > dropped, "a drop");
    // Unmuting is no Router event: a worker's mirror of the producer, made while it was muted,
    // must forward what the main thread now hands it.
    await a.signal.request({ t: "mute", source: "microphone", muted: false });
    await pumpUntil([a], receives(b, a, "voice"), "A's voice at B");
  });
});

Deno.test("the (limit + 1)-th camera and the (limit + 1)-th participant are refused", async () => {
  await withRoom({ maxVideoPublishers: 1, maxParticipants: 2 }, async ({ join, server, room }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await a.publish("camera");
    let refused: RoomRequestError | undefined;
    try {
      await b.publish("camera");
    } catch (error) {
      if (error instanceof RoomRequestError) refused = error;
    }
    assertEquals(refused?.code, "video-limit");
    // Audio is still allowed: the same participant publishes its microphone.
    b.stop("camera");
    await b.publish("microphone");
    await b.subscribed();
    await waitFor(() => a.pub?.connectionState === "connected", 10_000, "A's publish PC");
    await waitFor(() => b.pub?.connectionState === "connected", 10_000, "B's publish PC");
    const { SignalClient } = await import("../support/signal-client.ts");
    const third = await SignalClient.open(server.url, room.id);
    try {
      const reply = await third.request({ t: "join", token: room.tokens.speaker });
      assert(reply.t === "reply" && !reply.ok);
      assertEquals(reply.error.code, "room-full");
    } finally {
      await third.close();
    }
  });
});

Deno.test("room connections count against --max-sessions: beyond it, over-capacity", async () => {
  await withRoom({}, async ({ join, server }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await Promise.all([a.subscribed(), b.subscribed()]);
    await a.publish("microphone");
    // Two subscribe connections and one publish connection: the server is full.
    assertEquals(server.manager.sessions.size, 3);
    let refused: RoomRequestError | undefined;
    try {
      await b.publish("microphone");
    } catch (error) {
      if (error instanceof RoomRequestError) refused = error;
    }
    assertEquals(refused?.code, "over-capacity");
    b.stop("microphone");
  }, { maxSessions: 3 });
});
