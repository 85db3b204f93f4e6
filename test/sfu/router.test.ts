import { assert, assertEquals } from "@std/assert";
import { ExtensionMap } from "../../src/rtp/header-extensions.ts";
import { Consumer } from "../../src/sfu/consumer.ts";
import { Producer } from "../../src/sfu/producer.ts";
import { Router } from "../../src/sfu/router.ts";
import {
  ERROR_CODES,
  RouterError,
  type RouterEvent,
  type RouterSnapshot,
} from "../../src/sfu/router-protocol.ts";
import { MemoryLink } from "../support/forwarding-rig.ts";

function producer(
  kind: "audio" | "video",
  participant = "alice",
  codec: "opus" | "vp8" = kind === "audio" ? "opus" : "vp8",
): Producer {
  return new Producer({
    participant,
    kind,
    mid: kind === "audio" ? "0" : "1",
    codecName: codec,
    payloadType: kind === "audio" ? 111 : 96,
    clockRate: kind === "audio" ? 48000 : 90000,
    rids: kind === "video" ? ["q", "h", "f"] : [],
    extensions: new ExtensionMap(),
    requestKeyframe: () => {},
  });
}

function consumerOf(router: Router, p: Producer): Consumer {
  const consumer = new Consumer({
    producer: p,
    link: new MemoryLink(new ExtensionMap()),
    ssrc: 1234,
    payloadType: 100,
    mid: "v",
    extensions: new ExtensionMap(),
  });
  p.addConsumer(consumer);
  router.consumers.add(consumer);
  return consumer;
}

Deno.test("Router: producers by id with participant and source, in order", () => {
  const router = new Router("room");
  const mic = producer("audio");
  const cam = producer("video");
  const bob = producer("video", "bob");
  assert(!router.live);
  router.addProducers([mic, cam]);
  router.addProducers([bob]);
  assert(router.live);
  assert(router.liveSinceMs > 0);
  assertEquals(router.producers, [mic, cam, bob]);
  assertEquals(router.producer(cam.id), cam);
  assertEquals(router.producerOfKind("video"), cam);
  assertEquals(mic.info.source, "microphone");
  assertEquals(cam.info.source, "camera");
  assertEquals(bob.info.participant, "bob");
  assertEquals(cam.info.rids, ["q", "h", "f"]);
  assert(new Set([mic.id, cam.id, bob.id]).size === 3, "ids are unique");
});

Deno.test("Router: events carry plain data about added and removed producers", () => {
  const router = new Router("room");
  const events: RouterEvent[] = [];
  const off = router.on((e) => events.push(e));
  const mic = producer("audio");
  const cam = producer("video");
  router.addProducers([mic, cam]);
  assertEquals(router.removeProducers([cam.id, "nope"]), true);
  assertEquals(router.removeProducers(["nope"]), false);
  off();
  router.addProducers([producer("video")]);
  assertEquals(events, [
    { t: "producers", router: "room", added: [mic.info, cam.info], removed: [] },
    { t: "producers", router: "room", added: [], removed: [cam.id] },
  ]);
});

Deno.test("Router: a throwing listener does not stop the others", () => {
  const errors: unknown[] = [];
  const router = new Router("room", (e) => errors.push(e));
  let heard = 0;
  router.on(() => {
    throw new Error("boom");
  });
  router.on(() => heard++);
  router.addProducers([producer("audio")]);
  assertEquals(heard, 1);
  assertEquals(errors.length, 1);
});

Deno.test("Router: replacing the publisher re-binds consumers of the same kind and codec", () => {
  const router = new Router("stream");
  const oldCam = producer("video");
  const oldMic = producer("audio");
  router.addProducers([oldMic, oldCam]);
  const video = consumerOf(router, oldCam);
  const audio = consumerOf(router, oldMic);
  const newCam = producer("video");
  const events: RouterEvent[] = [];
  router.on((e) => events.push(e));
  const orphans = router.replaceProducers([newCam]);
  assertEquals(video.producer, newCam, "the video consumer follows the new camera");
  assertEquals(newCam.consumers, [video]);
  assertEquals(oldCam.consumers, [], "the old producer is closed");
  assertEquals(orphans, [audio], "no microphone any more: its subscriber must renegotiate");
  assertEquals(events, [{
    t: "producers",
    router: "stream",
    added: [newCam.info],
    removed: [oldMic.id, oldCam.id],
  }]);
  // Another codec cannot be re-bound.
  const h264 = new Producer({
    kind: "video",
    mid: "1",
    codecName: "h264",
    payloadType: 102,
    clockRate: 90000,
    rids: [],
    extensions: new ExtensionMap(),
    requestKeyframe: () => {},
  });
  assertEquals(router.replaceProducers([h264]), [video, audio]);
});

Deno.test("Router: close ends the producers and reports it once", () => {
  const router = new Router("room");
  const cam = producer("video");
  router.addProducers([cam]);
  const consumer = consumerOf(router, cam);
  const events: RouterEvent[] = [];
  router.on((e) => events.push(e));
  router.close();
  router.close();
  assert(router.closed);
  assert(!router.live);
  assertEquals(cam.consumers, []);
  assertEquals(router.consumers.size, 0);
  assertEquals(events, [{ t: "closed", router: "room" }]);
  consumer.close();
  router.addProducers([producer("audio")]);
  assert(!router.live, "a closed router takes no producers");
});

Deno.test("router protocol: events and snapshots survive structuredClone and JSON unchanged", () => {
  const router = new Router("room");
  const cam = producer("video");
  router.addProducers([producer("audio"), cam]);
  const snapshot: RouterSnapshot = router.snapshot();
  const events: RouterEvent[] = [
    { t: "producers", router: "room", added: [cam.info], removed: ["p0"] },
    { t: "closed", router: "room" },
  ];
  for (const value of [snapshot, ...events]) {
    assertEquals(structuredClone(value), value);
    assertEquals(JSON.parse(JSON.stringify(value)), value);
  }
});

Deno.test("RouterError carries one of the shared codes", () => {
  const error = new RouterError("video-limit", "the room has 30 cameras on");
  assertEquals(error.code, "video-limit");
  assert(ERROR_CODES.includes(error.code));
  assertEquals(new Set(ERROR_CODES).size, ERROR_CODES.length);
});
