// A group call in headless Chromium through the browser SDK and the call page users open: four
// pages join one room with the fake camera and microphone (`/call/<room>#token=…`); each page
// shows the three others' video (frames advancing, in tiles) and hears their microphones
// (audio slots, reported per person); dynacast has set the simulcast encodings the server
// asked for; one page shares a screen and the others see it; one page leaves and the others'
// tiles for it go. The screen is the SDK's own getDisplayMedia capture, which headless Chromium
// answers with a fake screen under --use-fake-ui-for-media-stream; where it cannot, a canvas's
// captureStream track is passed as `track` instead (the test prints which).
import { assert, assertEquals } from "@std/assert";
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import type { RunningServer } from "../../src/server.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";
import { pollUntil } from "../support/browser-media.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { HostedViewer } from "../../src/session/subscriber-host.ts";
import { peerSessions } from "../support/sessions.ts";

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const DEADLINE_MS = 60_000;
const POLL_MS = 500;
/** Frames a tile must decode between two looks to count as moving. */
const MIN_NEW_FRAMES = 10;
const TOKEN = "publish-secret-token";
/** The fake camera at 360p keeps four pages encoding and decoding within two shared cores. */
const CAMERA_HEIGHT = 360;

loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping rooms SDK browser test: ${skipReason}`);

/** What one page receives, per other participant (by name). */
interface Received {
  self: string;
  /** Tiles in the grid, by name (the page's own tile too). */
  tiles: string[];
  /** Video frames decoded per "name/source". */
  frames: Record<string, number>;
  /** Tiles whose <video> has a picture, by "name/source". */
  rendering: string[];
  /** Microphones received per name: packets and audio energy. */
  audio: Record<string, { packets: number; energy: number; attached: boolean }>;
  /** Diagnostics: "name:source@mid,…" per participant; packets per mid in and out. */
  bound: string[];
  inbound: string[];
  transport: string;
  outbound: string[];
  pcs: string;
}

/** Runs in a page: what its call page shows and receives now. */
const RECEIVED = `(async () => {
  const room = globalThis.call.room;
  const names = new Map([...room.participants.values()].map((p) => [p.id, p.name]));
  names.set(room.localParticipant.id, room.localParticipant.name);
  const stats = await room.getStats();
  const frames = {};
  const audio = {};
  for (const t of stats.tracks) {
    const name = names.get(t.participant) ?? t.participant;
    if (t.kind === "video") frames[name + "/" + t.source] = t.framesDecoded;
    else if (t.source === "microphone") {
      const element = globalThis.call.tiles.get(t.participant)?.querySelector("audio");
      audio[name] = {
        packets: t.packetsReceived,
        energy: t.totalAudioEnergy,
        attached: element?.srcObject?.getAudioTracks()[0] === room.participants.get(t.participant)?.tracks.get("microphone")?.mediaStreamTrack,
      };
    }
  }
  const tiles = [];
  const rendering = [];
  for (const [key, el] of globalThis.call.tiles) {
    const [id, screen] = key.split("/");
    const name = (names.get(id) ?? id) + (screen ? "/screen" : "");
    tiles.push(name);
    const video = el.querySelector("video");
    if (video.videoWidth > 0 && !video.paused) rendering.push(screen ? name : name + "/camera");
  }
  // For failure messages: what each participant's tracks are bound to, what each mid receives.
  const bound = [...room.participants.values()].map((p) =>
    p.name + ":" + [...p.tracks.values()].map((t) => t.source + "@" + t.mid).join(","));
  const inbound = [];
  stats.subscribe?.forEach((s) => s.type === "inbound-rtp" && inbound.push(s.mid + ":" + s.packetsReceived));
  const outbound = [];
  stats.publish?.forEach((s) => s.type === "outbound-rtp" && outbound.push(s.mid + "/" + (s.rid ?? "-") + ":" + s.packetsSent));
  // The subscribe transport: did packets reach it (then SRTP or demux dropped them) or not?
  let transport = "";
  stats.subscribe?.forEach((s) => {
    if (s.type !== "transport") return;
    const pair = stats.subscribe.get(s.selectedCandidatePairId);
    const local = pair && stats.subscribe.get(pair.localCandidateId);
    const remote = pair && stats.subscribe.get(pair.remoteCandidateId);
    transport = "packets " + s.packetsReceived + ", bytes " + s.bytesReceived + ", dtls " + s.dtlsState +
      " " + s.dtlsRole + " " + s.srtpCipher + ", pair " + (local ? local.address + ":" + local.port : "?") +
      " <- " + (remote ? remote.address + ":" + remote.port : "?") + " (" + (pair?.packetsReceived ?? "?") + " packets)";
  });
  const { publish, subscribe } = room.peerConnections;
  const pcs = "pub " + publish?.connectionState + ", sub " + subscribe?.connectionState + "/" + subscribe?.iceConnectionState + "/" + subscribe?.signalingState;
  return { self: room.localParticipant.name, tiles: tiles.sort(), frames, rendering, audio, bound, inbound: inbound.sort(), transport, outbound: outbound.sort(), pcs };
})()`;

async function createRoom(server: RunningServer): Promise<CreatedRoom> {
  const res = await fetch(`${server.url}/api/rooms`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "Browser call" }),
  });
  assertEquals(res.status, 201);
  return await res.json();
}

function received(page: Page): Promise<Received> {
  return page.evaluate<Received>(RECEIVED);
}

/** Polls `page` until `done`; a timeout shows what every page received, not just this one. */
/** The server's side, for failure messages: SRTP errors per session kind. */
let serverSide: () => string = () => "";

async function waitFor(
  pages: Page[],
  page: Page,
  what: string,
  done: (r: Received) => boolean,
): Promise<Received> {
  try {
    return await pollUntil(what, () => received(page), done, DEADLINE_MS, pages, POLL_MS);
  } catch (error) {
    const all = await Promise.all(pages.map((p) => received(p).catch((e) => String(e))));
    throw new Error(
      `${(error as Error).message}\nevery page: ${JSON.stringify(all, null, 1)}\n${serverSide()}`,
    );
  }
}

/** Waits until every page decodes new frames of each of `tracks` (other than its own). */
async function allMoving(pages: Page[], names: string[], tracks: string[]): Promise<void> {
  for (const [i, page] of pages.entries()) {
    const own = names[i];
    const wanted = tracks.filter((t) => !t.startsWith(`${own}/`));
    const first = await waitFor(
      pages,
      page,
      `${own} to decode ${wanted.join(", ")}`,
      (r) => wanted.every((t) => (r.frames[t] ?? 0) > 0),
    );
    await waitFor(
      pages,
      page,
      `${own}'s frames of ${wanted.join(", ")} to advance`,
      (r) =>
        wanted.every((t) => r.frames[t] >= first.frames[t] + MIN_NEW_FRAMES) &&
        wanted.every((t) => r.rendering.includes(t)),
    );
  }
}

Deno.test({
  name:
    "browser: four people in a call through the SDK see and hear each other, share a screen, and one leaves",
  ignore: skipReason !== null,
  fn: async () => {
    await using browser = await launchBrowser();
    if (!browser) return;
    // A port range, as the Docker image sets one: four people joining at once negotiate eight
    // connections together (before udp-port-binder.ts, two of them could pick the same port
    // and an uncaught EADDRINUSE ended the server).
    const server = await startLoopbackServer({ publishToken: TOKEN, rtcPorts: "40000-40099" });
    const pages: Page[] = [];
    serverSide = () =>
      "server sessions (kind, SRTP errors, connected, ms since a packet, producers/layers or " +
      "consumers/packets sent): " +
      JSON.stringify(
        peerSessions(server.manager).map((s) => [
          s.constructor.name,
          s.peer.counters.srtpErrors,
          s.peer.connected,
          Math.round(performance.now() - s.peer.counters.lastReceiveMs),
          "producers" in s
            ? s.producers.map((p) => `${p.participant}/${p.source}:${p.layers.length}`)
            : "consumers" in s
            ? s.consumers.map((c) =>
              `${c.producer.participant}/${c.producer.source}:${c.packetsSent}`
            )
            : [],
        ]),
      ) +
      // Subscribe connections run in the viewer workers: their latest status snapshots.
      "; hosted subscribers (stream, worker, connected, consumers mid:producer/packets sent): " +
      JSON.stringify(
        [...server.manager.sessions.values()].filter((s) => s instanceof HostedViewer).map((s) => {
          const snapshot = s.snapshot();
          return [
            s.streamName,
            server.workers?.placements().get(s.id) ?? "main",
            snapshot.connected,
            snapshot.consumers.map((c) => `${c.mid}:${c.producer}/${c.packetsSent}`),
          ];
        }),
      );
    try {
      const room = await createRoom(server);
      const names = ["Ada", "Bob", "Cy", "Dee"];
      for (const name of names) {
        const link = new URL(room.links.speaker);
        const page = await browser.newPage(
          `${server.url}${link.pathname}${link.hash}&name=${name}&height=${CAMERA_HEIGHT}`,
        );
        pages.push(page);
        await page.evaluate("globalThis.call.ready");
      }
      // Everyone present at join was in `participants` at once: each page has all tiles.
      for (const [i, page] of pages.entries()) {
        const r = await waitFor(
          pages,
          page,
          `${names[i]}'s tiles`,
          (r) => r.tiles.length === 4,
        );
        const ids = await page.evaluate<unknown>(
          `({ self: globalThis.call.room.localParticipant.id, others: [...globalThis.call.room.participants.keys()], tiles: [...globalThis.call.tiles.keys()] })`,
        );
        assertEquals(
          r.tiles,
          [...names].sort(),
          `${names[i]}'s page: ${JSON.stringify(ids)}\n${page.console.join("\n")}`,
        );
      }

      // Video: each page decodes and shows the three others' cameras.
      await allMoving(pages, names, names.map((n) => `${n}/camera`));

      // Audio: three microphones, three slots: each page receives every other voice, attached
      // to that person's <audio>, with sound in it (the fake microphone beeps).
      for (const [i, page] of pages.entries()) {
        const others = names.filter((n) => n !== names[i]);
        const r = await waitFor(
          pages,
          page,
          `${names[i]} to hear ${others.join(", ")}`,
          (r) => others.every((n) => (r.audio[n]?.energy ?? 0) > 0 && r.audio[n].attached),
        );
        assertEquals(Object.keys(r.audio).sort(), others);
      }

      // Dynacast: the server's constraint reached Ada's camera, whose encodings follow it.
      const dynacast = await pollUntil(
        "a senderConstraint for Ada's camera",
        () =>
          pages[0].evaluate<{ constraint: number | null; active: boolean[]; height: number }>(
            `(() => {
            const t = globalThis.call.room.localTracks.get("camera");
            const sender = globalThis.call.room.peerConnections.publish.getSenders()
              .find((s) => s.track === t.mediaStreamTrack);
            return {
              constraint: t.constraint ?? null,
              active: sender.getParameters().encodings.map((e) => e.active),
              height: t.mediaStreamTrack.getSettings().height,
            };
          })()`,
          ),
        (d) => d.constraint !== null,
        DEADLINE_MS,
        pages,
        POLL_MS,
      );
      assertEquals(dynacast.active.length, 3, "the camera is sent as three simulcast encodings");
      const expected = [4, 2, 1].map((_scale, i, scales) => {
        // Keep layers up to the first at or above the constraint (lowest first).
        const firstEnough = scales.findIndex((s) => dynacast.height / s >= dynacast.constraint!);
        return dynacast.constraint! > 0 && (firstEnough < 0 || i <= firstEnough);
      });
      assertEquals(dynacast.active, expected, JSON.stringify(dynacast));

      // Ada shares a screen; the others see it in a screen tile.
      const how = await pages[0].evaluate<string>(`(async () => {
        const room = globalThis.call.room;
        try {
          // The SDK's own capture (getDisplayMedia); headless Chromium answers it with a fake
          // screen when --use-fake-ui-for-media-stream is on, some builds not at all.
          await Promise.race([
            room.publish("screen"),
            new Promise((_, reject) => setTimeout(() => reject(new Error("no answer")), 5000)),
          ]);
          return "getDisplayMedia";
        } catch (error) {
          if (room.localTracks.has("screen")) await room.unpublish("screen");
          const canvas = document.createElement("canvas");
          canvas.width = 640;
          canvas.height = 360;
          const g = canvas.getContext("2d");
          let n = 0;
          setInterval(() => {
            g.fillStyle = "hsl(" + (n++ * 7) % 360 + ", 70%, 50%)";
            g.fillRect(0, 0, 640, 360);
            g.fillStyle = "#fff";
            g.font = "48px sans-serif";
            g.fillText("slide " + n, 40 + (n % 200), 180);
          }, 66);
          await room.publish("screen", { track: canvas.captureStream(15).getVideoTracks()[0] });
          return "a canvas track (getDisplayMedia: " + error.message + ")";
        }
      })()`);
      console.log(`screen share from: ${how}`);
      await allMoving(pages.slice(1), names.slice(1), ["Ada/screen"]);
      for (const page of pages.slice(1)) {
        assert((await received(page)).tiles.includes("Ada/screen"));
      }

      // Dee leaves: the others' tiles for Dee go, and Dee's page shows none.
      await pages[3].evaluate("globalThis.call.room.leave()");
      assertEquals((await received(pages[3])).tiles, []);
      for (const [i, page] of pages.slice(0, 3).entries()) {
        const r = await waitFor(
          pages,
          page,
          `${names[i]} to drop Dee's tile`,
          (r) => !r.tiles.includes("Dee"),
        );
        assertEquals(r.frames["Dee/camera"], undefined, "Dee's camera was unsubscribed");
        assertEquals(r.audio["Dee"], undefined, "Dee's voice was unsubscribed");
      }
      for (const page of pages.slice(0, 3)) await page.evaluate("globalThis.call.room.leave()");
    } finally {
      for (const page of pages) await page.close();
      await server.close();
    }
  },
});
