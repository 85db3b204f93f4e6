/**
 * A participant whose WebSocket drops, or whose network drops for a while, keeps its seat
 * (rooms.md §6): `join` with `resume` takes the seat back unseen by the others, its peers do
 * not end while packets are lost (no dead-peer end for room peers; the seat's departure
 * timeout ends them), and media flows again on the same peers. ICE restarts are negotiated on
 * both connections with new server credentials (completing one needs a browser:
 * test/browser/subscribe-pc.test.ts; werift clients never nominate again).
 */
import { assert, assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import { parseSdp } from "../../src/session/sdp.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { checkPayloads, pumpUntil, withRoom } from "../support/room-client.ts";
import { setKeepPercent, waitFor } from "../support/werift-client.ts";

loadLibsrtp();

Deno.test("resume after the WebSocket and the network drop: same seat, same peers, media flows", async () => {
  await withRoom({}, async ({ join, room, server }) => {
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await Promise.all([a.subscribed(), b.subscribed()]);
    await a.publish("camera", "microphone");
    await b.publish("camera");
    const aSeesB = () => a.packetsOn(a.midOf(b.self, "camera"));
    const bSeesA = () => b.packetsOn(b.midOf(a.self, "camera"));
    await pumpUntil([a, b], () => aSeesB() >= 10 && bSeesA() >= 10, "media both ways");
    const peers = [...server.manager.sessions.keys()].sort();

    // The network drops: nothing in or out on A's connections for a while (werift's debug
    // loss), and its socket with it; a new socket takes the seat back.
    // (A tiny share kept is nothing kept; 0 would turn werift's loss off.)
    for (const pc of [a.pub!, a.sub]) setKeepPercent(pc, 1e-9, 1e-9);
    // What was already on its way (in a socket or a send batch) lands first.
    await pumpUntil([a, b], () => false, "nothing", { timeoutMs: 300 }).catch(() => {});
    const lost = [aSeesB(), bSeesA()];
    await pumpUntil([a, b], () => false, "nothing", { timeoutMs: 1500 }).catch(() => {});
    assertEquals([aSeesB(), bSeesA()], lost);
    assert(await a.resume(room.tokens.speaker));
    for (const pc of [a.pub!, a.sub]) setKeepPercent(pc, undefined, undefined);
    await pumpUntil([a, b], () => aSeesB() >= lost[0] + 10 && bSeesA() >= lost[1] + 10, "again");
    assertGreater(checkPayloads(b, b.midOf(a.self, "camera")!, a, "camera"), 0);
    assertGreater(checkPayloads(a, a.midOf(b.self, "camera")!, b, "camera"), 0);

    // The same peers on the server, and B never saw A leave.
    assertEquals([...server.manager.sessions.keys()].sort(), peers);
    const left = b.signal.received.filter((m) => m.t === "participants" && m.left.includes(a.self));
    assertEquals(left, []);
  });
});

Deno.test("ICE restarts: a publish re-offer and restartIce get new server credentials", async () => {
  await withRoom({}, async ({ join }) => {
    const a = await join("speaker", "A");
    await a.subscribed();
    const first = parseSdp(await a.publish("microphone")).media[0].iceUfrag;
    await waitFor(() => a.pub?.connectionState === "connected", 10_000, "the publish PC");
    // Publish: a re-offer with new credentials is answered with new ones (same connection).
    const restarted = parseSdp(await a.offerIceRestart()).media[0].iceUfrag;
    assertNotEquals(restarted, first);
    // Subscribe: restartIce brings an offer with new credentials, answered by the client.
    a.autoAnswer = false;
    const offers = () => a.signal.received.filter((m) => m.t === "offer");
    const count = offers().length;
    const subUfrag = parseSdp(a.sub.remoteDescription!.sdp).media[0].iceUfrag;
    const reply = await a.signal.request({ t: "restartIce", pc: "sub" });
    assert(reply.t === "reply" && reply.ok);
    await waitFor(() => offers().length > count, 5000, "the restart offer");
    const next = offers().at(-1)!;
    assert(next.t === "offer");
    assertNotEquals(parseSdp(next.sdp).media[0].iceUfrag, subUfrag);
    // An answer to an older revision is a conflict.
    const stale = await a.signal.request({
      t: "answer",
      pc: "sub",
      rev: next.rev - 1,
      sdp: next.sdp,
    });
    assert(stale.t === "reply" && !stale.ok);
    assertEquals(stale.error.code, "conflict");
  });
});
