// The built-in player module: its pure helpers in Deno, and its WHEP session logic in Chromium
// against a scripted server (409 + Retry-After, server-sent events, layer selection, reconnect).
import { assert, assertEquals } from "@std/assert";
import { RTCPeerConnection } from "werift";
import {
  mlineIndex,
  parseLinkHeader,
  retryDelayMs,
  summarizeInboundStats,
} from "../../src/http/player/player.js";
import { browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";

const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";

Deno.test("player: parseLinkHeader splits joined headers and keeps quoted commas", () => {
  const rows: [string | null, { url: string; rel: string; events?: string }[]][] = [
    [null, []],
    ["", []],
    [
      `</whep/a/1/sse>; rel="${SSE_REL}"; events="active,inactive,layers", </whep/a/1/layer>; rel="${LAYER_REL}"`,
      [
        { url: "http://h/whep/a/1/sse", rel: SSE_REL, events: "active,inactive,layers" },
        { url: "http://h/whep/a/1/layer", rel: LAYER_REL },
      ],
    ],
    [
      `<stun:stun.example.net>; rel="ice-server", <turn:t.example.net?transport=udp>; rel=ice-server; username="u"; credential="p\\"q"`,
      [
        { url: "stun:stun.example.net", rel: "ice-server" },
        { url: "turn:t.example.net?transport=udp", rel: "ice-server" },
      ],
    ],
    [`<https://other/x>;REL="next"`, [{ url: "https://other/x", rel: "next" }]],
  ];
  for (const [header, expected] of rows) {
    const links = parseLinkHeader(header, "http://h/whep/a");
    assertEquals(
      links.map((l) => ({
        url: l.url,
        rel: l.rel,
        ...(l.params.events ? { events: l.params.events } : {}),
      })),
      expected,
      String(header),
    );
  }
  const turn = parseLinkHeader(
    `<turn:t?transport=udp>; rel="ice-server"; username="u"; credential="p\\"q"`,
    "http://h/",
  )[0];
  assertEquals([turn.params.username, turn.params.credential], ["u", 'p"q']);
});

Deno.test("player: retryDelayMs honours Retry-After, else backs off exponentially", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const rows: [number, string | null, number][] = [
    [0, null, 1_000],
    [1, null, 2_000],
    [3, null, 8_000],
    [4, null, 15_000], // capped
    [50, null, 15_000],
    [5, "2", 2_000], // delta-seconds wins over backoff
    [0, "0", 250], // floor: never hammer the server
    [0, "86400", 60_000], // ceiling
    [0, "Thu, 01 Jan 2026 00:00:03 GMT", 3_000], // HTTP-date
    [2, "soon", 4_000], // unparsable: backoff
  ];
  for (const [attempt, retryAfter, expected] of rows) {
    assertEquals(retryDelayMs(attempt, retryAfter, now), expected, `${attempt} ${retryAfter}`);
  }
});

Deno.test("player: mlineIndex finds the m-line of a kind", () => {
  const sdp =
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
  assertEquals(mlineIndex(sdp, "audio"), 0);
  assertEquals(mlineIndex(sdp, "video"), 1);
  assertEquals(mlineIndex("v=0\nm=video 9 X 96\n", "audio"), -1);
});

Deno.test("player: summarizeInboundStats computes rates between two reports", () => {
  const report = (videoBytes: number, videoPackets: number, lost: number, frames: number) =>
    new Map<string, Record<string, unknown>>([
      ["v", {
        id: "v",
        type: "inbound-rtp",
        kind: "video",
        codecId: "c1",
        bytesReceived: videoBytes,
        packetsReceived: videoPackets,
        packetsLost: lost,
        frameWidth: 1280,
        frameHeight: 720,
        framesPerSecond: 30,
        framesDecoded: frames,
        jitterBufferDelay: 3,
        jitterBufferEmittedCount: 100,
      }],
      ["a", {
        id: "a",
        type: "inbound-rtp",
        kind: "audio",
        codecId: "c2",
        bytesReceived: 1000,
        packetsReceived: 50,
        packetsLost: 0,
      }],
      ["c1", { id: "c1", type: "codec", mimeType: "video/VP8" }],
      ["c2", { id: "c2", type: "codec", mimeType: "audio/opus" }],
      ["p", {
        id: "p",
        type: "candidate-pair",
        nominated: true,
        state: "succeeded",
        currentRoundTripTime: 0.04,
      }],
    ]);
  const first = summarizeInboundStats(report(10_000, 100, 0, 10), null, 1_000);
  assertEquals(first.bitrateBps, 0); // no previous report: no rate yet
  assertEquals([first.width, first.height, first.framesDecoded], [1280, 720, 10]);
  assertEquals([first.videoCodec, first.audioCodec], ["video/VP8", "audio/opus"]);
  assertEquals(first.jitterBufferMs, 30);
  assertEquals(first.rttMs, 40);
  assertEquals(first.latencyMs, 50);
  // One second later: 125,000 more bytes = 1 Mbit/s; 90 received + 10 lost = 10 % loss.
  const second = summarizeInboundStats(report(135_000, 190, 10, 40), first, 2_000);
  assertEquals(second.bitrateBps, 1_000_000);
  assertEquals(second.lossPercent, 10);
  assertEquals(second.audioPacketsReceived, 50);
  // Counters that go backwards (a new session) never give negative rates.
  const reset = summarizeInboundStats(report(0, 0, 0, 0), second, 3_000);
  assertEquals([reset.bitrateBps, reset.lossPercent], [0, 0]);
});

/** A WHEP endpoint whose every answer the test scripts; media-less werift peers do the ICE/DTLS. */
class ScriptedWhepServer {
  readonly requests: string[] = [];
  readonly bodies: { path: string; body: string }[] = [];
  notLiveResponses = 1;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #peers: RTCPeerConnection[] = [];
  #events = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #sessions = 0;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handle(request),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Sends one server-sent event to every open event stream. */
  push(event: string, data: unknown): void {
    const bytes = new TextEncoder().encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    for (const controller of this.#events) controller.enqueue(bytes);
  }

  async close(): Promise<void> {
    for (const controller of this.#events) controller.close();
    this.#events.clear();
    for (const peer of this.#peers) await peer.close();
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    this.requests.push(`${request.method} ${path}`);
    if (body) this.bodies.push({ path, body });
    if (request.method === "GET" && path === "/") {
      return new Response("<!doctype html><title>t</title>", {
        headers: { "content-type": "text/html" },
      });
    }
    if (request.method === "GET" && path === "/player/player.js") {
      const file = new URL("../../src/http/player/player.js", import.meta.url);
      return new Response(await Deno.readFile(file), {
        headers: { "content-type": "text/javascript" },
      });
    }
    if (request.method === "POST" && path === "/whep/cam") {
      if (this.notLiveResponses-- > 0) {
        return new Response("not live", { status: 409, headers: { "Retry-After": "0" } });
      }
      return this.#answer(body);
    }
    if (request.method === "POST" && path.endsWith("/sse")) {
      return new Response(null, { status: 201, headers: { Location: `${path}/stream` } });
    }
    if (request.method === "GET" && path.endsWith("/sse/stream")) {
      let self: ReadableStreamDefaultController<Uint8Array>;
      const stream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          self = controller;
          this.#events.add(controller);
        },
        cancel: () => {
          this.#events.delete(self);
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    if (request.method === "POST" && path.endsWith("/layer")) return new Response(null);
    if (request.method === "DELETE") return new Response(null);
    return new Response("not found", { status: 404 });
  }

  async #answer(offer: string): Promise<Response> {
    const peer = new RTCPeerConnection({
      iceLite: true,
      bundlePolicy: "max-bundle",
      iceServers: [],
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
    });
    this.#peers.push(peer);
    await peer.setRemoteDescription({ type: "offer", sdp: offer });
    await peer.setLocalDescription(await peer.createAnswer());
    const session = `/whep/cam/${++this.#sessions}`;
    return new Response(peer.localDescription!.sdp, {
      status: 201,
      headers: {
        "content-type": "application/sdp",
        Location: session,
        Link:
          `<${session}/sse>; rel="${SSE_REL}"; events="active,inactive,layers,reconnect,viewercount"` +
          `, <${session}/layer>; rel="${LAYER_REL}"`,
      },
    });
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T>, page: Page): Promise<T> {
  const deadline = Date.now() + 20_000; // bound against hangs, not a speed check
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\n${page.console.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name: "player: waits through 409, follows SSE layers and viewer count, switches, reconnects",
  ignore: browserUnavailable() !== null,
  // The scripted server's werift peers outlive close(): DTLS flight retransmission timers
  // (Flight.transmit) and node:crypto cipher handles freed only by garbage collection.
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const server = new ScriptedWhepServer();
  try {
    await using browser = await launchBrowser();
    if (!browser) return;
    const page = await browser.newPage(`${server.url}/`);
    await page.evaluate(`(async () => {
      const m = await import("/player/player.js");
      globalThis.statuses = [];
      globalThis.player = m.whepPlay("/whep/cam", {});
      player.addEventListener("status", (e) => statuses.push(e.detail.status));
    })()`);
    const status = () => page.evaluate<string>("player.status");

    await waitFor("playing", async () => (await status()) === "playing", page);
    const statuses = await page.evaluate<string[]>("statuses");
    assertEquals(statuses.slice(0, 2), ["waiting", "reconnecting"]);
    assertEquals(
      server.requests.filter((r) => r.startsWith("POST /whep/cam")).slice(0, 3),
      ["POST /whep/cam", "POST /whep/cam", "POST /whep/cam/1/sse"],
    );
    assertEquals(
      JSON.parse(server.bodies.find((b) => b.path === "/whep/cam/1/sse")!.body),
      ["layers", "active", "inactive", "viewercount", "reconnect"],
    );
    // The offer was recvonly audio then video, so the video m-line (mediaId) is 1.
    const offer = server.bodies.find((b) => b.path === "/whep/cam")!.body;
    assertEquals(mlineIndex(offer, "video"), 1);
    assert(!/a=sendrecv|a=sendonly/.test(offer), "a WHEP offer receives only");

    await waitFor(
      "event stream",
      () => Promise.resolve(server.requests.includes("GET /whep/cam/1/sse/stream")),
      page,
    );
    const layers = [
      {
        rid: "f",
        spatialLayerId: 2,
        temporalLayerId: 0,
        bitrate: 1_500_000,
        width: 1280,
        height: 720,
      },
      {
        rid: "q",
        spatialLayerId: 0,
        temporalLayerId: 0,
        bitrate: 150_000,
        width: 320,
        height: 180,
      },
    ];
    server.push("layers", { "1": layers });
    server.push("viewercount", { viewercount: 3 });
    await waitFor("layers", () => page.evaluate<boolean>("player.layers?.length === 2"), page);
    await waitFor("viewer count", () => page.evaluate<boolean>("player.viewerCount === 3"), page);

    await page.evaluate(`player.selectLayer("q")`);
    await page.evaluate(`player.selectLayer("q", 0)`);
    await page.evaluate(`player.selectLayer("")`);
    assertEquals(
      server.bodies.filter((b) => b.path === "/whep/cam/1/layer").map((b) => JSON.parse(b.body)),
      [{ mediaId: "1", rid: "q" }, { mediaId: "1", rid: "q", temporalLayerId: 0 }, {
        mediaId: "1",
      }],
    );

    // `reconnect` ends this session (DELETE) and starts another one.
    server.push("reconnect", {});
    await waitFor(
      "second session",
      () => Promise.resolve(server.requests.includes("GET /whep/cam/2/sse/stream")),
      page,
    );
    assert(server.requests.includes("DELETE /whep/cam/1"), server.requests.join("\n"));
    await waitFor("playing again", async () => (await status()) === "playing", page);

    await page.evaluate("player.stop()");
    assert(server.requests.includes("DELETE /whep/cam/2"), server.requests.join("\n"));
    assertEquals(await status(), "stopped");
    await page.close();
  } finally {
    await server.close();
  }
});
