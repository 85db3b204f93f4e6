// A participant's network drops in the middle of a call, in headless Chromium through the SDK
// and the call page: every TCP connection of Ada's page is cut (the signalling WebSocket ends
// without a close frame, as when a laptop leaves a Wi-Fi network), and new ones get through.
// Ada's SDK reconnects with its resume token, keeps its seat (same participant id) and restarts
// ICE on both connections; Bob never sees Ada leave or join again, and video flows both ways
// after the restart. The page reaches the server through a TCP proxy the test can cut; media
// goes over UDP straight to the server, as it does for users.
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import type { CreatedRoom } from "../../src/http/rooms-api.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";
import { pollUntil } from "../support/browser-media.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const DEADLINE_MS = 60_000;
const TOKEN = "publish-secret-token";
const MIN_NEW_FRAMES = 10;

loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping rooms resume browser test: ${skipReason}`);

interface Look {
  id: string;
  state: string;
  /** Frames decoded of each other participant's camera, by name. */
  frames: Record<string, number>;
  /** SDK events in order: "reconnecting", "participantLeft:Ada", … */
  events: string[];
  /** The local ICE ufrag of the publish and subscribe connections. */
  ufrags: [string, string];
  pcs: string;
}

/** Runs in a page: starts recording the SDK's events (once), then reports. */
const LOOK = `(async () => {
  const room = globalThis.call.room;
  if (!globalThis.events) {
    globalThis.events = [];
    for (const e of ["reconnecting", "reconnected", "disconnected", "participantJoined", "participantLeft"]) {
      room.on(e, (arg) => globalThis.events.push(arg?.name ? e + ":" + arg.name : arg ? e + ":" + arg : e));
    }
  }
  const names = new Map([...room.participants.values()].map((p) => [p.id, p.name]));
  const frames = {};
  for (const t of (await room.getStats()).tracks) {
    if (t.kind === "video" && t.participant !== room.localParticipant.id) {
      frames[names.get(t.participant) ?? t.participant] = t.framesDecoded;
    }
  }
  const ufrag = (pc) => /a=ice-ufrag:(\\S+)/.exec(pc?.localDescription?.sdp ?? "")?.[1] ?? "";
  const { publish, subscribe } = room.peerConnections;
  return {
    id: room.localParticipant.id,
    state: room.state,
    frames,
    events: globalThis.events,
    ufrags: [ufrag(publish), ufrag(subscribe)],
    pcs: "pub " + publish?.connectionState + ", sub " + subscribe?.connectionState,
  };
})()`;

const look = (page: Page) => page.evaluate<Look>(LOOK);

// Also on one UDP port per thread: the restarted checks carry new ufrags to the shared socket.
for (const [label, config] of [["", {}], [" (--rtc-port)", { rtcPort: 0 }]] as const) {
  Deno.test({
    name:
      `browser: a participant whose network drops resumes its seat with an ICE restart; the others never see it leave${label}`,
    ignore: skipReason !== null,
    fn: async () => {
      await using browser = await launchBrowser();
      if (!browser) return;
      const server = await startLoopbackServer({ publishToken: TOKEN, ...config });
      const proxy = startTcpProxy({ hostname: "127.0.0.1", port: server.port });
      const pages: Page[] = [];
      try {
        const res = await fetch(`${server.url}/api/rooms`, {
          method: "POST",
          headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
          body: JSON.stringify({ name: "Resume" }),
        });
        const room: CreatedRoom = await res.json();
        const link = new URL(room.links.speaker);
        const path = `${link.pathname}${link.hash}&height=360`;
        const ada = await browser.newPage(`${proxy.url}${path}&name=Ada`);
        const bob = await browser.newPage(`${server.url}${path}&name=Bob`);
        pages.push(ada, bob);
        for (const page of pages) await page.evaluate("globalThis.call.ready");

        const moving = async (page: Page, other: string, what: string) => {
          const first = await pollUntil(
            `${what}: ${other}'s camera decoded`,
            () => look(page),
            (l) => (l.frames[other] ?? 0) > 0,
            DEADLINE_MS,
            pages,
            500,
          );
          await pollUntil(
            `${what}: ${other}'s camera advancing`,
            () => look(page),
            (l) => l.frames[other] >= first.frames[other] + MIN_NEW_FRAMES,
            DEADLINE_MS,
            pages,
            500,
          );
        };
        await moving(ada, "Bob", "before the drop");
        await moving(bob, "Ada", "before the drop");
        const before = await look(ada);

        proxy.cut();
        assert(proxy.cuts > 0, "Ada's page had connections through the proxy");

        const after = await pollUntil(
          "Ada's SDK to reconnect and restart ICE on both connections",
          () => look(ada),
          (l) =>
            l.events.includes("reconnected") && l.state === "connected" &&
            l.ufrags[0] !== before.ufrags[0] && l.ufrags[1] !== before.ufrags[1] &&
            l.pcs === "pub connected, sub connected",
          DEADLINE_MS,
          pages,
          500,
        );
        assertEquals(after.id, before.id, "Ada kept her seat");
        assertEquals(after.events.filter((e) => e.startsWith("reconnect")), [
          "reconnecting",
          "reconnected",
        ]);
        assertNotEquals(after.ufrags, before.ufrags);

        await moving(ada, "Bob", "after the restart");
        await moving(bob, "Ada", "after the restart");

        const seenByBob = await look(bob);
        assertEquals(
          seenByBob.events.filter((e) => e.includes("Ada")),
          [],
          "Bob saw Ada neither leave nor join",
        );
        const detail = await (await fetch(`${server.url}/api/rooms/${room.id}`, {
          headers: { Authorization: `Bearer ${TOKEN}` },
        })).json();
        assertEquals(detail.participants.length, 2, JSON.stringify(detail.participants));
      } finally {
        for (const page of pages) await page.close().catch(() => {});
        await browser.close();
        await proxy.close();
        await server.close();
      }
    },
  });
}

Deno.test({
  name:
    "browser: a room link without a name asks for one, remembers it, and joins with it (listeners get their own label)",
  ignore: skipReason !== null,
  fn: async () => {
    await using browser = await launchBrowser();
    if (!browser) return;
    const server = await startLoopbackServer({ publishToken: TOKEN });
    try {
      const res = await fetch(`${server.url}/api/rooms`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: "{}",
      });
      const room: CreatedRoom = await res.json();
      const open = (link: string) => {
        const url = new URL(link);
        return browser.newPage(`${server.url}${url.pathname}${url.hash}&height=180`);
      };
      const FORM = `(() => ({
        shown: !document.getElementById("prejoin").hidden,
        name: document.getElementById("name").value,
        button: document.getElementById("join").textContent,
        joined: globalThis.call.room !== null,
      }))()`;
      type Form = { shown: boolean; name: string; button: string; joined: boolean };

      const speaker = await open(room.links.speaker);
      const asked = await speaker.evaluate<Form>(FORM);
      assertEquals(asked, { shown: true, name: "", button: "Join", joined: false });
      await speaker.evaluate(`(() => {
        document.getElementById("name").value = "  Grace ";
        document.getElementById("join").click();
      })()`);
      await speaker.evaluate("globalThis.call.ready");
      assertEquals(
        await speaker.evaluate<string>("globalThis.call.room.localParticipant.name"),
        "Grace",
      );
      assertEquals((await speaker.evaluate<Form>(FORM)).shown, false);

      // The next link opened in this browser offers the name used last; a listener's says so.
      const listener = await open(room.links.listener);
      const offered = await listener.evaluate<Form>(FORM);
      assertEquals(offered, {
        shown: true,
        name: "Grace",
        button: "Join as listener",
        joined: false,
      });
      await listener.evaluate(`document.getElementById("join").click()`);
      await listener.evaluate("globalThis.call.ready");
      assertEquals(
        await listener.evaluate<string>("globalThis.call.room.localParticipant.role"),
        "listener",
      );
      // Leave once every connection is up and werift's DTLS flight timers have run out: they
      // cannot be cancelled, and each runs its course (0.5 s and more) after its handshake.
      const up = (page: Page) =>
        pollUntil(
          "the page's connections up",
          () =>
            page.evaluate<string[]>(
              `Object.values(globalThis.call.room.peerConnections).filter(Boolean).map((pc) => pc.connectionState)`,
            ),
          (states) => states.length > 0 && states.every((s) => s === "connected"),
          DEADLINE_MS,
          [page],
          200,
        );
      await up(speaker);
      await up(listener);
      await settleWeriftTimers();
      await listener.evaluate("globalThis.call.room.leave()");
      await speaker.evaluate("globalThis.call.room.leave()");
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
