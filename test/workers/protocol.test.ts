// The worker boundary's messages are plain data: each kind survives structuredClone (what
// postMessage does) and JSON unchanged. The samples are keyed by message kind, so a new kind
// without a sample fails type checking here.
import { assertEquals } from "@std/assert";
import type {
  MlineBinding,
  RoomSubscriberCommand,
  SubscriberCommand,
  SubscriberCreated,
  SubscriberEvent,
  SubscriberSnapshot,
} from "../../src/session/subscriber-host.ts";
import type { FromWorker, ToWorker } from "../../src/workers/protocol.ts";

const snapshot: SubscriberSnapshot = {
  id: "v1",
  stream: "live",
  connected: true,
  estimateBps: 2_500_000,
  consumers: [{
    mid: "1",
    mlineIndex: 1,
    kind: "video",
    ssrc: 0xdeadbeef,
    producer: "p7",
    current: { ssrc: 1234, rid: "h" },
    target: { ssrc: 5678, rid: null },
    reason: "manual",
    packetsSent: 42,
    temporalTarget: -1,
    temporalCurrent: 2,
  }],
};

const created: SubscriberCreated = {
  answer: "v=0\r\n",
  etag: '"e"',
  remoteIceUfrag: "u",
  snapshot,
};

const commands: { [K in SubscriberCommand["t"]]: Extract<SubscriberCommand, { t: K }> } = {
  pin: { t: "pin", mid: "1", rid: "h" },
  temporal: { t: "temporal", mid: "1", pinned: null, max: 1 },
  caps: { t: "caps", mid: "1", maxWidth: 640, maxHeight: 360, maxSpatial: 1 },
  maxHeight: { t: "maxHeight", mid: "1", maxHeight: 0 },
  priority: { t: "priority", mid: "1", priority: 1 },
  restartIce: { t: "restartIce", remoteUfrag: "r", remotePwd: "rp", iceUfrag: "l", icePwd: "lp" },
};

const roomCommands: {
  [K in RoomSubscriberCommand["t"]]: Extract<RoomSubscriberCommand, { t: K }>;
} = {
  bind: { t: "bind", producer: "p7" },
  unbind: { t: "unbind", producer: "p7" },
  slot: { t: "slot", index: 2, producer: null },
  want: { t: "want", producer: "p7", maxHeight: 360, priority: 2 },
  restartIce: { t: "restartIce" },
  resume: { t: "resume" },
};

const bound: MlineBinding[] = [
  { mid: "a0", kind: "audio", participant: null, source: null },
  { mid: "v0", kind: "video", participant: "alice", source: "screen" },
];

const events: { [K in SubscriberEvent["t"]]: Extract<SubscriberEvent, { t: K }> } = {
  ended: { t: "ended", id: "v1", reason: "consent_expired" },
  lifecycle: { t: "lifecycle", id: "v1", event: "first_packet" },
  offer: { t: "offer", id: "r1", rev: 3, sdp: "v=0\r\n", bound },
  bound: { t: "bound", id: "r1", bound },
};

const toWorker: { [K in Exclude<ToWorker["t"], "init">]: Extract<ToWorker, { t: K }>[] } = {
  router: [
    {
      t: "router",
      event: {
        t: "producers",
        router: "live",
        added: [{
          id: "p7",
          participant: "",
          source: "camera",
          kind: "video",
          codec: "vp8",
          mid: "1",
          rids: ["l", "h"],
          muted: false,
        }],
        removed: ["p3"],
      },
      media: [{
        producer: "p7",
        trackId: 3,
        codec: { payloadType: 96, name: "VP8", clockRate: 90000, fmtp: "", rtcpFb: ["nack"] },
        extmaps: [{ id: 4, uri: "urn:ietf:params:rtp-hdrext:sdes:mid" }],
      }],
    },
    { t: "router", event: { t: "closed", router: "live" }, media: [] },
  ],
  create: [{ t: "create", req: 1, id: "v1", stream: "live", offer: "v=0\r\n" }],
  command: Object.values(commands).map((command) => ({ t: "command", id: "v1", command })),
  end: [{ t: "end", req: 2, id: "v1", reason: "deleted" }],
  createRoom: [{
    t: "createRoom",
    req: 4,
    id: "r1",
    spec: { stream: "room:abc", participant: "bob", audioSlots: 3 },
  }],
  room: Object.values(roomCommands).map((command) => ({ t: "room", id: "r1", command })),
  answer: [{ t: "answer", req: 5, id: "r1", rev: 3, sdp: "v=0\r\n" }],
  sr: [{
    t: "sr",
    trackId: 3,
    ssrc: 1234,
    ntpSeconds: 3_900_000_000.5,
    rtpTimestamp: 0xfffffff0,
    arrivalEpochMs: 1.7e12,
  }],
  close: [{ t: "close", req: 3 }],
};

const fromWorker: { [K in FromWorker["t"]]: Extract<FromWorker, { t: K }>[] } = {
  ready: [{ t: "ready", index: 0, srtp: "libsrtp" }],
  reply: [
    { t: "reply", req: 1, ok: true, created },
    { t: "reply", req: 2, ok: true },
    { t: "reply", req: 1, ok: false, error: { code: "unsupported", message: "no H.264" } },
    { t: "reply", req: 5, ok: false, error: { code: "conflict", message: "stale rev" } },
  ],
  keyframe: [{ t: "keyframe", trackId: 3, ssrc: 1234 }],
  subscriber: Object.values(events).map((event) => ({ t: "subscriber", event })),
  "send-path-fallback": [{ t: "send-path-fallback", kind: "no-gso", reason: "errno 22" }],
  status: [{
    t: "status",
    subscribers: [snapshot],
    counters: {
      rtpPacketsOut: [1, 2],
      rtpBytesOut: [100, 2000],
      packetsDropped: [0, 1],
      nacksIn: 3,
      retransmissions: 2,
      pliIn: 1,
      firIn: 0,
      layerSwitches: [1, 0, 0, 0],
      sendLinks: [1, 0, 0],
      histograms: { forwardLatencySeconds: { counts: [1, 2, 3], sum: 0.004 } },
    },
    ringPackets: 500,
    busyMs: 12.5,
  }],
};

Deno.test("worker protocol: every message kind survives structuredClone and JSON unchanged", () => {
  const messages = [...Object.values(toWorker).flat(), ...Object.values(fromWorker).flat()];
  for (const message of messages) {
    assertEquals(structuredClone(message), message, message.t);
    assertEquals(JSON.parse(JSON.stringify(message)), message, message.t);
  }
});
