/**
 * How the SDK reports what the subscribe connection carries, against a scripted signalling
 * server (exact messages, no media) and a stand-in RTCPeerConnection that only knows its m-lines:
 * tracks present at join arrive after joinRoom resolves; an audio slot moving from one speaker to
 * another is trackUnsubscribed for the first and trackSubscribed for the second with the same
 * MediaStreamTrack; a leave unsubscribes before participantLeft; `bound` moves video.
 */
import { assert, assertEquals } from "@std/assert";
import { loadSdk, type SdkTrack } from "../support/sdk-module.ts";

const { joinRoom } = await loadSdk();
const WAIT_MS = 10_000;

/** A received track as the stand-in connection makes it. */
interface FakeTrack {
  kind: string;
  id: string;
}

/** The part of RTCPeerConnection the subscribe side uses: m-lines from the offer, no media. */
class FakePeerConnection extends EventTarget {
  connectionState = "new";
  iceGatheringState = "complete";
  signalingState = "stable";
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  #transceivers: {
    mid: string;
    currentDirection: string | null;
    receiver: { track: FakeTrack };
  }[] = [];

  setRemoteDescription(description: { type: string; sdp: string }): Promise<void> {
    this.remoteDescription = description;
    let kind = "";
    for (const line of description.sdp.split("\r\n")) {
      if (line.startsWith("m=")) kind = line.slice(2).split(" ")[0];
      const mid = /^a=mid:(.+)$/.exec(line)?.[1];
      if (mid && !this.#transceivers.some((t) => t.mid === mid)) {
        this.#transceivers.push({
          mid,
          currentDirection: null,
          receiver: { track: { kind, id: crypto.randomUUID() } },
        });
      }
    }
    return Promise.resolve();
  }

  createAnswer(): Promise<{ type: string; sdp: string }> {
    return Promise.resolve({ type: "answer", sdp: "v=0\r\n" });
  }

  setLocalDescription(description: { type: string; sdp: string }): Promise<void> {
    this.localDescription = description;
    for (const t of this.#transceivers) t.currentDirection = "recvonly";
    return Promise.resolve();
  }

  getTransceivers() {
    return this.#transceivers;
  }

  getStats(): Promise<Map<string, unknown>> {
    return Promise.resolve(new Map());
  }

  close(): void {
    this.connectionState = "closed";
  }
}

function participant(id: string, name: string, publishing: string[] = []) {
  return {
    id,
    name,
    role: "speaker",
    hidden: false,
    hand: false,
    publishing,
    muted: [],
    locked: [],
  };
}

const OFFER_SDP = [
  "v=0",
  "o=- 1 1 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:a0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:a1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "a=mid:v0",
  "",
].join("\r\n");

/** A signalling server that answers join with a fixed room and then says what the test says. */
class ScriptedServer implements AsyncDisposable {
  readonly received: Record<string, unknown>[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #socket: WebSocket | null = null;
  #connected = Promise.withResolvers<void>();

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (event) => this.#onMessage(socket, JSON.parse(event.data));
      return response;
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/rooms/scripted`;
  }

  /** Resolves once the client joined. */
  get joined(): Promise<void> {
    return this.#connected.promise;
  }

  send(message: Record<string, unknown>): void {
    this.#socket?.send(JSON.stringify({ v: 1, ...message }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }

  #onMessage(socket: WebSocket, message: Record<string, unknown>): void {
    this.received.push(message);
    const re = message.id;
    switch (message.t) {
      case "join":
        this.#socket = socket;
        socket.send(JSON.stringify({
          v: 1,
          t: "joined",
          re,
          self: participant("me", "Me"),
          room: {
            id: "scripted",
            name: "",
            maxVideoPublishers: 30,
            maxParticipants: 1000,
            maxScreenShares: 2,
            audioSlots: 2,
            e2ee: false,
            joinMuted: false,
          },
          participants: [
            participant("me", "Me"),
            participant("bo", "Bo", ["camera", "microphone"]),
            participant("cy", "Cy", ["microphone"]),
          ],
          listeners: 0,
          producers: [
            { id: "p1", participant: "bo", source: "camera", muted: false },
            { id: "p2", participant: "bo", source: "microphone", muted: false },
            { id: "p3", participant: "cy", source: "microphone", muted: false },
          ],
          speakers: [],
          hands: [],
          resumeToken: "resume-1",
          resumed: false,
        }));
        // What the server does right after joined: the subscribe offer, then the slots.
        this.send({
          t: "offer",
          pc: "sub",
          rev: 1,
          sdp: OFFER_SDP,
          bound: [
            { mid: "a0", kind: "audio", participant: null, source: null },
            { mid: "a1", kind: "audio", participant: null, source: null },
            { mid: "v0", kind: "video", participant: "bo", source: "camera" },
          ],
        });
        this.send({
          t: "activeSpeakers",
          speakers: [],
          slots: { a0: "bo", a1: null },
        });
        this.#connected.resolve();
        break;
      case "leave":
        socket.send(JSON.stringify({ v: 1, t: "reply", re, ok: true }));
        socket.close(1000);
        break;
      default:
        if (re !== undefined) socket.send(JSON.stringify({ v: 1, t: "reply", re, ok: true }));
    }
  }
}

Deno.test("sdk: audio slots are reported per person, on the same MediaStreamTrack", async () => {
  Object.defineProperty(globalThis, "RTCPeerConnection", {
    value: FakePeerConnection,
    configurable: true,
  });
  try {
    await using server = new ScriptedServer();
    const room = await joinRoom(server.url, { token: "t" });
    const events: string[] = [];
    const tracks = new Map<string, unknown>();
    let wake = () => {};
    const record = (what: string) => (track: SdkTrack, p: { name: string }) => {
      events.push(`${what} ${p.name} ${track.source}`);
      tracks.set(`${what} ${p.name} ${track.source}`, track.mediaStreamTrack);
      wake();
    };
    room.on("trackSubscribed", record("+"));
    room.on("trackUnsubscribed", record("-"));
    room.on("participantLeft", (p) => (events.push(`left ${p.name}`), wake()));
    const until = async (n: number) => {
      const deadline = Date.now() + WAIT_MS;
      while (events.length < n) {
        assert(Date.now() < deadline, `waited for ${n} events, have ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    };
    await server.joined;
    // Present at join, reported after joinRoom resolved: a handler set after the await sees it.
    await until(2);
    assertEquals(events.sort(), ["+ Bo camera", "+ Bo microphone"]);
    events.length = 0;

    // Slot a0 moves from Bo to Cy: the same browser track changes hands.
    server.send({ t: "activeSpeakers", speakers: [], slots: { a0: "cy", a1: "bo" } });
    await until(3);
    assertEquals(events, ["- Bo microphone", "+ Cy microphone", "+ Bo microphone"]);
    assert(
      tracks.get("- Bo microphone") === tracks.get("+ Cy microphone"),
      "Cy's voice arrives on the MediaStreamTrack that carried Bo's",
    );
    assert(tracks.get("+ Cy microphone") !== tracks.get("+ Bo microphone"));
    events.length = 0;

    // Cy leaves: the track goes before the participant.
    server.send({ t: "participants", joined: [], left: ["cy"], updated: [], listeners: 0 });
    await until(2);
    assertEquals(events, ["- Cy microphone", "left Cy"]);
    events.length = 0;

    // Bo's camera is unbound (unpublished).
    server.send({
      t: "bound",
      bound: [{ mid: "v0", kind: "video", participant: null, source: null }],
    });
    await until(1);
    assertEquals(events, ["- Bo camera"]);

    // What the SDK asked for: Bo's camera at the default size (microphones are never listed).
    const deadline = Date.now() + WAIT_MS;
    while (!server.received.some((m) => m.t === "setSubscription") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20)); // sent after a 100 ms debounce
    }
    const subscription = server.received.find((m) => m.t === "setSubscription");
    assertEquals(subscription?.items, [{ participant: "bo", source: "camera", maxHeight: 360 }]);
    const answer = server.received.find((m) => m.t === "answer");
    assertEquals([answer?.pc, answer?.rev], ["sub", 1]);
    await room.leave();
  } finally {
    Reflect.deleteProperty(globalThis, "RTCPeerConnection");
  }
});
