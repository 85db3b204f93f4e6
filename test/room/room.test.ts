import { assert, assertEquals, assertThrows } from "@std/assert";
import { Room, RoomError, type RoomErrorCode, type RoomSettings } from "../../src/room/mod.ts";

function refused(fn: () => unknown, code: RoomErrorCode, includes?: string): void {
  const error = assertThrows(fn, RoomError, includes);
  assertEquals((error as RoomError).code, code);
}

function room(settings: Partial<RoomSettings> = {}, now = () => 0): Room {
  return new Room({ id: "room1", name: "Test", settings }, { now });
}

Deno.test("seats: room-full at maxParticipants (admins excepted), hidden listeners counted", () => {
  const r = room({ maxParticipants: 2, listenersHidden: true });
  const a = r.join({ role: "speaker", name: "A" }).participant;
  const l = r.join({ role: "listener" }).participant;
  assert(l.hidden && !a.hidden);
  refused(() => r.join({ role: "listener" }), "room-full", "2 participants");
  r.join({ role: "admin" });
  assertEquals(r.counts(), { admin: 1, speaker: 1, listener: 1 });
  assertEquals(r.hiddenListeners, 1);
  assertEquals(r.visibleParticipants().map((p) => p.role), ["speaker", "admin"]);
  assertEquals(r.info().participantCount, 3);
});

Deno.test("hidden: only listeners, by room setting or token", () => {
  const r = room();
  assertEquals(r.join({ role: "listener", hidden: true }).participant.hidden, true);
  assertEquals(r.join({ role: "listener" }).participant.hidden, false);
  assertEquals(r.join({ role: "speaker", hidden: true }).participant.hidden, false);
});

Deno.test("one seat per user id: a second join replaces the first", () => {
  const r = room({ maxParticipants: 1 });
  const events: string[] = [];
  r.observe({ left: (p, reason) => events.push(`${p.name} ${reason}`) });
  const first = r.join({ role: "speaker", name: "phone", userId: "u1" }).participant;
  const { participant, replaced } = r.join({ role: "speaker", name: "laptop", userId: "u1" });
  assertEquals(replaced?.id, first.id);
  assertEquals(r.size, 1);
  assertEquals(r.participant(participant.id)?.name, "laptop");
  assertEquals(events, ["phone replaced"]);
});

Deno.test("video limit: participants with camera or screen, screens separately", () => {
  const r = room({ maxVideoPublishers: 2, maxScreenShares: 1 });
  const [a, b, c] = ["A", "B", "C"].map((name) => r.join({ role: "speaker", name }).participant);
  assertEquals(r.setPublishing(a.id, ["microphone", "camera"]), {
    added: ["microphone", "camera"],
    removed: [],
  });
  // A second video source of the same participant does not count again.
  r.setPublishing(a.id, ["microphone", "camera", "screen"]);
  r.setPublishing(b.id, ["camera"]);
  refused(() => r.setPublishing(c.id, ["camera"]), "video-limit", "2 video publishers");
  refused(() => r.setPublishing(b.id, ["camera", "screen"]), "video-limit", "1 screen shares");
  r.setPublishing(c.id, ["microphone"]);
  assertEquals(r.setPublishing(a.id, ["microphone"]).removed, ["camera", "screen"]);
  r.setPublishing(c.id, ["microphone", "camera"]);
  assertEquals(r.videoPublishers, 2);
  refused(() => r.setPublishing(c.id, ["camera", "camera"]), "bad-request");
});

Deno.test("listeners publish nothing; promotion lets them, demotion takes it back", () => {
  const r = room();
  const admin = r.join({ role: "admin" }).participant;
  const l = r.join({ role: "listener", hidden: true }).participant;
  refused(() => r.setPublishing(l.id, ["microphone"]), "forbidden", "listener");
  r.raiseHand(l.id, true);
  assertEquals(r.hands(), [l.id]);
  refused(() => r.promote(l.id, l.id), "forbidden");
  r.promote(admin.id, l.id);
  assertEquals([l.role, l.hidden, l.handRaisedAt], ["speaker", false, null]);
  refused(() => r.promote(admin.id, l.id, "speaker"), "conflict", "already a speaker");
  r.setPublishing(l.id, ["microphone", "camera"]);
  assertEquals(r.demote(admin.id, l.id), ["microphone", "camera"]);
  assertEquals([l.role, l.publishing.size], ["listener", 0]);
  refused(() => r.demote(admin.id, l.id), "conflict");
  refused(() => r.promote(admin.id, "nobody"), "not-found");
});

Deno.test("hands: listeners only, first raised first", () => {
  let t = 0;
  const r = room({}, () => t);
  const [x, y] = [
    r.join({ role: "listener" }).participant,
    r.join({ role: "listener" }).participant,
  ];
  const s = r.join({ role: "speaker" }).participant;
  t = 5;
  r.raiseHand(y.id, true);
  t = 9;
  r.raiseHand(x.id, true);
  assertEquals(r.hands(), [y.id, x.id]);
  r.raiseHand(y.id, false);
  assertEquals(r.hands(), [x.id]);
  refused(() => r.raiseHand(s.id, true), "forbidden");
});

Deno.test("mutes: joinMuted starts microphones muted; an admin's mute locks until lifted", () => {
  const r = room({ joinMuted: true });
  const admin = r.join({ role: "admin" }).participant;
  const s = r.join({ role: "speaker" }).participant;
  assert(s.muted.has("microphone"));
  r.mute(s.id, "microphone", false);
  assert(!s.muted.has("microphone"));
  r.muteParticipant(admin.id, s.id, "microphone", true);
  assert(s.muted.has("microphone") && s.locked.has("microphone"));
  refused(() => r.mute(s.id, "microphone", false), "forbidden", "an admin muted");
  refused(() => r.muteParticipant(s.id, admin.id, "microphone", true), "forbidden");
  // Lifting the lock does not unmute: nobody's microphone is turned on remotely.
  r.muteParticipant(admin.id, s.id, "microphone", false);
  assert(s.muted.has("microphone") && !s.locked.has("microphone"));
  r.mute(s.id, "microphone", false);
  // Admins may unmute themselves even when locked.
  r.muteParticipant(admin.id, admin.id, "camera", true);
  r.mute(admin.id, "camera", false);
  const l = r.join({ role: "listener" }).participant;
  refused(() => r.mute(l.id, "microphone", false), "forbidden");
});

Deno.test("remove, reset invites and end: admins only; end closes the media once", () => {
  let closed = 0;
  const ended: string[] = [];
  const r = new Room({ id: "r" }, { media: () => ({ close: () => closed++ }) });
  r.observe({ ended: (reason) => ended.push(reason) });
  const admin = r.join({ role: "admin" }).participant;
  const s = r.join({ role: "speaker" }).participant;
  refused(() => r.remove(s.id, admin.id), "forbidden");
  refused(() => r.resetInvites(s.id), "forbidden");
  assertEquals(r.resetInvites(admin.id), 1);
  r.remove(admin.id, s.id);
  assertEquals(r.size, 1);
  refused(() => r.require(admin.id, "record") && r.require("ghost", "endRoom"), "not-found");
  r.end("admin");
  r.end("api");
  assertEquals([closed, ended, r.size, r.ended], [1, ["admin"], 0, true]);
  refused(() => r.join({ role: "admin" }), "not-found", "ended");
});
