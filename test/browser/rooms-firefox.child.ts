// Firefox with Chromium (run by rooms-firefox.test.ts inside a network namespace,
// scripts/netns.sh): in one call (default), or each publishing over WHIP what the other plays
// over WHEP (`--broadcast`). The server announces the namespace's non-loopback address
// 198.18.0.1; the pages load from 127.0.0.1. Prints one JSON line: what each browser
// received, or the error. See rooms-firefox.test.ts for what is checked and why.
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { launchBrowser, type Page } from "../support/browser.ts";
import { decodedVideo, playInPage, pollUntil, publishFromPage } from "../support/browser-media.ts";
import { launchFirefox } from "../support/firefox.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";

const DEADLINE_MS = 60_000;
const TOKEN = "publish-secret-token";
const MIN_NEW_FRAMES = 10;

loadLibsrtp();

interface Heard {
  /** Frames decoded of each other participant's camera, by name. */
  frames: Record<string, number>;
  /** Audio energy received of each other participant's microphone, by name. */
  energy: Record<string, number>;
  /** Packets received of each other participant's microphone, by name. */
  audioPackets: Record<string, number>;
  pcs: string;
}

const HEARD = `(async () => {
  const room = globalThis.call.room;
  const names = new Map([...room.participants.values()].map((p) => [p.id, p.name]));
  const frames = {}, energy = {}, audioPackets = {};
  for (const t of (await room.getStats()).tracks) {
    if (t.participant === room.localParticipant.id) continue;
    const name = names.get(t.participant) ?? t.participant;
    if (t.kind === "video") frames[name] = t.framesDecoded ?? 0;
    else if (t.source === "microphone") {
      energy[name] = t.totalAudioEnergy ?? 0;
      audioPackets[name] = t.packetsReceived ?? 0;
    }
  }
  const { publish, subscribe } = room.peerConnections;
  return { frames, energy, audioPackets, pcs: "pub " + publish?.connectionState + ", sub " + subscribe?.connectionState };
})()`;

/** What the call gave each browser, by the other's name. */
export interface CallResult {
  error?: string;
  /** Per receiving browser: the other's frames decoded at two looks, audio packets, states. */
  received?: Record<string, { first: number; later: number; audioPackets: number; pcs: string }>;
  /** Sources the rooms API lists per participant. */
  sources?: Record<string, string[]>;
}

export async function runCall(ip: string): Promise<CallResult> {
  await using chromium = await launchBrowser();
  if (!chromium) return { error: "no Chromium" };
  await using firefox = await launchFirefox();
  const server = await startLoopbackServer({
    publishToken: TOKEN,
    host: "127.0.0.1",
    publicIps: [ip],
  });
  const pages: Page[] = [];
  try {
    const res = await fetch(`${server.url}/api/rooms`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Two browsers" }),
    });
    const room: CreatedRoom = await res.json();
    const link = new URL(room.links.speaker);
    const path = `${link.pathname}${link.hash}&height=360`;
    const fox = await firefox.newPage(`${server.url}${path}&name=Fox`);
    const ada = await chromium.newPage(`${server.url}${path}&name=Ada`);
    pages.push(fox, ada);
    for (const page of pages) await page.evaluate("globalThis.call.ready");

    const received: NonNullable<CallResult["received"]> = {};
    for (const [self, page, other] of [["Fox", fox, "Ada"], ["Ada", ada, "Fox"]] as const) {
      const look = () => page.evaluate<Heard>(HEARD);
      const first = await pollUntil(
        `${self} to decode ${other}'s camera`,
        look,
        (h) => (h.frames[other] ?? 0) > 0,
        DEADLINE_MS,
        pages,
        500,
      );
      const later = await pollUntil(
        `${self}: ${other}'s camera advancing and microphone heard`,
        look,
        (h) =>
          h.frames[other] >= first.frames[other] + MIN_NEW_FRAMES &&
          (h.audioPackets[other] ?? 0) > 0,
        DEADLINE_MS,
        pages,
        500,
      );
      received[self] = {
        first: first.frames[other],
        later: later.frames[other],
        audioPackets: later.audioPackets[other],
        pcs: later.pcs,
      };
    }
    const detail = await (await fetch(`${server.url}/api/rooms/${room.id}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    })).json();
    const sources: Record<string, string[]> = Object.fromEntries(
      detail.participants.map((p: { name: string; tracks: { source: string }[] }) => [
        p.name,
        p.tracks.map((t) => t.source).sort(),
      ]),
    );
    return { received, sources };
  } finally {
    for (const page of pages) await page.close().catch(() => {});
    await server.close();
  }
}

/** Per direction ("Firefox → Chromium"): frames the viewer decoded at two looks, and how. */
export interface BroadcastResult {
  error?: string;
  played?: Record<string, { first: number; later: number; width: number; codec: string }>;
}

/**
 * The broadcast case: each browser publishes over WHIP with the player module (VP8 simulcast,
 * as the /publish page can) and the other plays it over WHEP.
 */
export async function runBroadcast(ip: string): Promise<BroadcastResult> {
  await using chromium = await launchBrowser();
  if (!chromium) return { error: "no Chromium" };
  await using firefox = await launchFirefox();
  const server = await startLoopbackServer({ host: "127.0.0.1", publicIps: [ip] });
  try {
    const played: NonNullable<BroadcastResult["played"]> = {};
    const browsers = { Firefox: firefox, Chromium: chromium };
    for (const [from, to] of [["Firefox", "Chromium"], ["Chromium", "Firefox"]] as const) {
      const stream = from.toLowerCase();
      const publisher = await browsers[from].newPage(`${server.url}/`);
      const viewer = await browsers[to].newPage(`${server.url}/`);
      try {
        await publishFromPage(publisher, stream, {
          token: server.publishToken,
          codec: "VP8",
          simulcast: true,
        }, "true");
        await playInPage(viewer, stream);
        const pages = [publisher, viewer];
        const first = await pollUntil(
          `${to} to decode ${from}'s stream`,
          () => decodedVideo(viewer),
          (d) => d.framesDecoded > 0,
          DEADLINE_MS,
          pages,
          500,
        );
        const later = await pollUntil(
          `${to}'s frames of ${from}'s stream advancing`,
          () => decodedVideo(viewer),
          (d) => d.framesDecoded >= first.framesDecoded + MIN_NEW_FRAMES,
          DEADLINE_MS,
          pages,
          500,
        );
        played[`${from} → ${to}`] = {
          first: first.framesDecoded,
          later: later.framesDecoded,
          width: later.width,
          codec: later.codec,
        };
      } finally {
        await viewer.close();
        await publisher.close();
      }
    }
    return { played };
  } finally {
    await server.close();
  }
}

if (import.meta.main) {
  const ip = Deno.args.find((a) => a.startsWith("--ip="))?.slice(5) ?? "198.18.0.1";
  const run = Deno.args.includes("--broadcast") ? runBroadcast : runCall;
  let result: CallResult | BroadcastResult;
  try {
    result = await run(ip);
  } catch (error) {
    result = { error: error instanceof Error ? error.message : String(error) };
  }
  console.log(JSON.stringify(result));
  Deno.exit(0);
}
