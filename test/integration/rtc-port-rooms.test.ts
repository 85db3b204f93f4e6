/**
 * A room on one UDP port per thread (`--rtc-port`): participants publish and receive through
 * the shared sockets, and a participant whose network drops for a while resumes on the same seat
 * and the same peers. When the room empties, nothing stays routed on the main thread's port. (A
 * new address after a network switch needs an ICE restart, which werift clients cannot complete:
 * the mux's routing of a new address by its check's ufrag runs in rtc-port.test.ts.)
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { udpMuxOn } from "../../src/transport/udp-mux.ts";
import { checkPayloads, pumpUntil, withRoom } from "../support/room-client.ts";
import { setKeepPercent, waitFor } from "../support/werift-client.ts";

loadLibsrtp();

Deno.test("--rtc-port: a room's media and a resume go through the shared port; nothing stays routed", async () => {
  await withRoom({}, async ({ join, room, server }) => {
    const mux = udpMuxOn(0);
    assert(mux, "the main thread's shared port is open");
    const a = await join("speaker", "A");
    const b = await join("speaker", "B");
    await Promise.all([a.subscribed(), b.subscribed()]);
    await a.publish("camera", "microphone");
    await b.publish("camera");
    const aSeesB = () => a.packetsOn(a.midOf(b.self, "camera"));
    const bSeesA = () => b.packetsOn(b.midOf(a.self, "camera"));
    await pumpUntil([a, b], () => aSeesB() >= 10 && bSeesA() >= 10, "media both ways");
    assertGreater(checkPayloads(b, b.midOf(a.self, "camera")!, a, "camera"), 0);
    const peers = [...server.manager.sessions.keys()].sort();

    // A's network drops (werift's debug loss) and its WebSocket with it; a new one resumes.
    for (const pc of [a.pub!, a.sub]) setKeepPercent(pc, 1e-9, 1e-9);
    await pumpUntil([a, b], () => false, "nothing", { timeoutMs: 1500 }).catch(() => {});
    const lost = [aSeesB(), bSeesA()];
    assert(await a.resume(room.tokens.speaker));
    for (const pc of [a.pub!, a.sub]) setKeepPercent(pc, undefined, undefined);
    await pumpUntil([a, b], () => aSeesB() >= lost[0] + 10 && bSeesA() >= lost[1] + 10, "again");
    assertGreater(checkPayloads(a, a.midOf(b.self, "camera")!, b, "camera"), 0);
    assertEquals([...server.manager.sessions.keys()].sort(), peers, "the same peers");

    await a.close();
    await b.close();
    await waitFor(() => mux.size === 0, 10_000, "every transport left the main thread's port");
    assertEquals(mux.routes, 0, "no address stays routed");
  }, { rtcPort: 0 });
});
