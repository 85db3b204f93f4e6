/**
 * Fuzz-style robustness: malformed SDP, headers and bodies at every route and method. Every
 * answer must be a 2xx/3xx/4xx (never 5xx), every 4xx a problem document, the server must stay
 * healthy and no session may leak. A seeded PRNG makes a failure reproduce: the seed and the
 * request are in the assertion message.
 */
import { assert, assertEquals } from "@std/assert";
import { configFrom } from "../../src/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { createLogger } from "../../src/observability/log.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { CHROMIUM_WHEP, OBS_30, WHIP_OFFERS } from "../support/offers.ts";

loadLibsrtp();

const TOKEN = "publish-secret-token";
const SEED = Number(Deno.env.get("QUETZAL_FUZZ_SEED") ?? 0x5eed);
const ROUNDS = 600;

/** mulberry32: a tiny seeded PRNG (uniform in [0, 1)). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const encoder = new TextEncoder();
const OFFERS = [...Object.values(WHIP_OFFERS), CHROMIUM_WHEP];

/** Body generators: each returns bytes or text, from plausible-but-broken to pure garbage. */
function bodyGenerators(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const lines = (text: string) => text.split("\r\n");
  const mutateLine = (line: string): string => {
    switch (int(7)) {
      case 0:
        return line.replace(
          /\d+/g,
          () => pick(["0", "-1", "65536", "4294967296", "99999999999999999999", "NaN"]),
        );
      case 1:
        return line.slice(0, int(line.length + 1));
      case 2:
        return line + pick([":", "=", " ", "\u0000", ";;;", "/", "\t"]);
      case 3:
        return line.replace(/[a-z]/, pick(["", " ", "=", "A", "\u00ff"]));
      case 4:
        return pick([
          "a=",
          "m=",
          "=",
          "a=rtpmap:",
          "a=extmap:",
          "a=rid:",
          "a=simulcast:",
          "m=video",
        ]) +
          line.slice(int(line.length));
      case 5:
        return line.replace(/:/, "");
      default:
        return line.repeat(1 + int(3));
    }
  };
  return [
    // Truncated at a random byte.
    () => {
      const offer = pick(OFFERS);
      return offer.slice(0, int(offer.length));
    },
    // A few lines mutated.
    () => {
      const out = lines(pick(OFFERS));
      for (let i = 0, n = 1 + int(4); i < n; i++) {
        const at = int(out.length);
        out[at] = mutateLine(out[at]);
      }
      return out.join("\r\n");
    },
    // Lines dropped, duplicated or shuffled.
    () => {
      const out = lines(pick(OFFERS));
      for (let i = 0, n = 1 + int(6); i < n; i++) {
        const a = int(out.length), b = int(out.length);
        switch (int(3)) {
          case 0:
            out.splice(a, 1);
            break;
          case 1:
            out.splice(a, 0, out[b]);
            break;
          default:
            [out[a], out[b]] = [out[b], out[a]];
        }
      }
      return out.join(pick(["\r\n", "\n", "\r"]));
    },
    // Random bytes flipped (may break UTF-8).
    () => {
      const bytes = encoder.encode(pick(OFFERS));
      for (let i = 0, n = 1 + int(20); i < n; i++) bytes[int(bytes.length)] = int(256);
      return bytes;
    },
    // Binary garbage.
    () => crypto.getRandomValues(new Uint8Array(1 + int(4096))),
    // NUL bytes.
    () => pick(OFFERS).replaceAll("\r\n", "\u0000\r\n"),
    // Invalid UTF-8 in an otherwise fine offer.
    () => {
      const bytes = encoder.encode(pick(OFFERS));
      const out = new Uint8Array(bytes.length + 3);
      const at = int(bytes.length);
      out.set(bytes.subarray(0, at));
      out.set([0xc3, 0x28, 0xff], at);
      out.set(bytes.subarray(at), at + 3);
      return out;
    },
    // One huge line, under and over the 64 KiB limit.
    () => `v=0\r\na=${"x".repeat(pick([1000, 60_000, 70_000]))}\r\n`,
    // Thousands of m-lines.
    () => {
      const head = OBS_30.slice(0, OBS_30.indexOf("m=audio"));
      let body = head;
      for (let i = 0, n = pick([500, 1500]); i < n; i++) {
        body +=
          `m=${
            pick(["video", "audio", "application", "text"])
          } 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:${i}\r\n` +
          "a=rtpmap:96 VP8/90000\r\na=recvonly\r\n";
      }
      return body;
    },
    // Thousands of codecs in one m-line.
    () => {
      let body = OBS_30;
      for (let i = 0; i < 1500; i++) {
        body += `a=rtpmap:${i % 128} H264/90000\r\na=rtcp-fb:${i} nack\r\n`;
      }
      return body;
    },
    // JSON, for the SSE and layer routes (and nonsense elsewhere).
    () =>
      pick([
        "[]",
        '["active"]',
        '["x"]',
        "{}",
        '{"mediaId":"1"}',
        '{"rid":"0"}',
        '{"maxWidth":1e308}',
        '{"spatialLayerId":-1}',
        "{mediaId:1,rid:",
        "null",
        '"str"',
        "1".repeat(5000),
        "[".repeat(5000),
        '{"__proto__":{"polluted":true}}',
      ]),
    () => "",
  ];
}

const CONTENT_TYPES = [
  "application/sdp",
  "application/sdp; charset=utf-8",
  "APPLICATION/SDP",
  "application/sdp;;;",
  'application/sdp; x="y;z"',
  " application/sdp ",
  "application/trickle-ice-sdpfrag",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=xyz",
  "application/x-www-form-urlencoded",
  "",
  "*/*",
  "application/",
  ";",
];

function authHeaders(random: () => number): string | undefined {
  const options = [
    undefined,
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    `Bearer  ${TOKEN}  `,
    "Bearer",
    "Bearer ",
    `Bearer ${TOKEN} extra`,
    `Basic ${btoa("user:pass")}`,
    `Bearer ${"A".repeat(8000)}`,
    `Bearer ${TOKEN.slice(0, -1)}`,
    "Bearer \u00e9\u00ff",
    "Token x",
  ];
  return options[Math.floor(random() * options.length)];
}

Deno.test(`fuzz: malformed requests at every route never get a 5xx (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const server: RunningServer = await startServer(
    configFrom({
      port: 0,
      host: "127.0.0.1",
      publicIps: ["127.0.0.1"],
      // On the main thread: a server per test, checking the HTTP layer; two workers add about
      // 1 s per start (whip.test.ts: 21 s instead of 1 s).
      workers: 1,
      logLevel: "silent",
      publishToken: TOKEN,
      rateLimitFailures: 0,
    }),
    { logger: createLogger("silent") },
  );
  const created = new Set<string>();
  try {
    const pub = await fetch(server.url + "/whip/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${TOKEN}` },
      body: OBS_30,
    });
    assertEquals(pub.status, 201);
    await pub.body?.cancel();
    const publisher = pub.headers.get("Location")!;
    const view = await fetch(server.url + "/whep/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: CHROMIUM_WHEP,
    });
    assertEquals(view.status, 201);
    await view.body?.cancel();
    const viewer = view.headers.get("Location")!;
    created.add(publisher).add(viewer);

    const paths = [
      "/whip/live",
      publisher,
      "/whip/live/00000000-0000-0000-0000-000000000000",
      "/whip/live/" + "9".repeat(300),
      "/whip/%00",
      "/whip/..%2F..%2Fetc",
      "/whip/" + "s".repeat(5000),
      "/whip/live/x/y/z",
      "/whep/live",
      "/whep/idle",
      viewer,
      viewer + "/sse",
      viewer + "/sse/00000000-0000-0000-0000-000000000000",
      viewer + "/layer",
      publisher.replace("/whip/", "/whep/") + "/layer",
      "/api/streams",
      "/api/streams/live",
      "/api/streams/%ff%fe",
      "/healthz",
      "/readyz",
      "/metrics",
      "/",
      "/watch/live",
      "/player/..%2F..%2Fconfig.ts",
    ];
    const methods = [
      "POST",
      "POST",
      "POST",
      "PATCH",
      "PATCH",
      "DELETE",
      "GET",
      "HEAD",
      "OPTIONS",
      "PUT",
    ];
    const bodies = bodyGenerators(random);
    for (let round = 0; round < ROUNDS; round++) {
      const method = methods[int(methods.length)];
      const path = paths[int(paths.length)];
      const headers = new Headers();
      const type = CONTENT_TYPES[int(CONTENT_TYPES.length)];
      if (type) headers.set("Content-Type", type);
      const authorization = authHeaders(random);
      if (authorization !== undefined) headers.set("Authorization", authorization);
      if (method === "PATCH" && random() < 0.7) {
        headers.set("If-Match", ["*", '"x"', "", 'W/"*"', "*, *"][int(5)]);
      }
      if (random() < 0.2) headers.set("Origin", "https://fuzz.example");
      const generator = int(bodies.length);
      const body = method === "GET" || method === "HEAD" ? undefined : bodies[generator]();
      const what = `seed ${SEED} round ${round}: ${method} ${path.slice(0, 60)} ` +
        `type="${type}" auth="${authorization?.slice(0, 20)}" body generator ${generator}`;
      const res = await fetch(server.url + path, { method, headers, body });
      const contentType = res.headers.get("Content-Type") ?? "";
      if (contentType.startsWith("text/event-stream")) await res.body?.cancel();
      else await res.arrayBuffer();
      assert(res.status < 500, `${what} → ${res.status}`);
      if (res.status >= 400 && method !== "HEAD") {
        assertEquals(
          contentType,
          "application/problem+json",
          `${what} → ${res.status} ${contentType}`,
        );
      }
      const location = res.headers.get("Location");
      if (res.status === 201 && location && !location.includes("/sse/")) created.add(location);
    }

    const health = await fetch(server.url + "/healthz");
    assertEquals(await health.json(), { status: "ok" });
    // Whatever the fuzzer created or replaced: delete it all, then nothing must remain.
    for (const location of created) {
      const del = await fetch(server.url + location, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      assert(del.status === 200 || del.status === 404, `DELETE ${location} → ${del.status}`);
      await del.body?.cancel();
    }
    assertEquals(server.manager.sessions.size, 0, "no session leaked");
    assertEquals(server.manager.routers.size, 0, "no stream leaked");
  } finally {
    await server.close();
  }
});

/** Sends raw bytes on a fresh connection and returns the status code (0: closed, no answer). */
async function rawRequest(port: number, request: Uint8Array): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(request).catch(() => 0);
    await conn.closeWrite().catch(() => {});
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      const text = new TextDecoder().decode(chunks.at(-1));
      if (/\r\n\r\n/.test(text)) break;
    }
    const head = new TextDecoder().decode(chunks[0] ?? new Uint8Array());
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    return match ? Number(match[1]) : 0;
  } finally {
    conn.close();
  }
}

Deno.test("fuzz: malformed HTTP framing and headers on a raw connection → 4xx or a closed connection", async () => {
  const server = await startServer(
    configFrom({
      port: 0,
      host: "127.0.0.1",
      publicIps: ["127.0.0.1"],
      // On the main thread: a server per test, checking the HTTP layer; two workers add about
      // 1 s per start (whip.test.ts: 21 s instead of 1 s).
      workers: 1,
      logLevel: "silent",
      publishToken: TOKEN,
      rateLimitFailures: 0,
    }),
    { logger: createLogger("silent") },
  );
  try {
    const sdp = OBS_30;
    const len = encoder.encode(sdp).length;
    const request = (head: string[], body = "") =>
      encoder.encode(
        [...head, "Host: x", "Connection: close", ""].join("\r\n") + "\r\n" + body,
      );
    const auth = `Authorization: Bearer ${TOKEN}`;
    const rows: [string, Uint8Array][] = [
      [
        "Content-Length not a number",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Content-Length: abc",
        ], sdp),
      ],
      [
        "negative Content-Length",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Content-Length: -1",
        ], sdp),
      ],
      [
        "absurd Content-Length",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Content-Length: 99999999999999999999999",
        ], sdp),
      ],
      [
        "Content-Length over the limit",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Content-Length: 10000000",
        ], sdp),
      ],
      [
        "Content-Length longer than the body",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          `Content-Length: ${len + 500}`,
        ], sdp),
      ],
      [
        "two Content-Lengths",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          `Content-Length: ${len}`,
          "Content-Length: 3",
        ], sdp),
      ],
      [
        "bad chunk size",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Transfer-Encoding: chunked",
        ], "zz\r\nhello\r\n0\r\n\r\n"),
      ],
      [
        "truncated chunked body",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Transfer-Encoding: chunked",
        ], "ffff\r\nv=0\r\n"),
      ],
      [
        "chunked and Content-Length",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          auth,
          "Transfer-Encoding: chunked",
          "Content-Length: 5",
        ], "5\r\nhello\r\n0\r\n\r\n"),
      ],
      [
        "NUL in a header",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp\u0000",
          auth,
          `Content-Length: ${len}`,
        ], sdp),
      ],
      [
        "header without colon",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type application/sdp",
          `Content-Length: ${len}`,
        ], sdp),
      ],
      ["100 KiB header", request(["GET /healthz HTTP/1.1", `X-Big: ${"b".repeat(100 * 1024)}`])],
      ["unknown method", request(["BREW /whip/live HTTP/1.1", "Content-Length: 0"])],
      [
        "garbage request line",
        encoder.encode(
          "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003 not http\r\n\r\n",
        ),
      ],
      ["relative path without slash", request(["GET healthz HTTP/1.1"])],
      [
        "invalid UTF-8 path",
        new Uint8Array([
          ...encoder.encode("GET /whip/"),
          0xff,
          0xfe,
          ...encoder.encode(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ]),
      ],
      [
        "Authorization with control characters",
        request([
          "POST /whip/live HTTP/1.1",
          "Content-Type: application/sdp",
          "Authorization: Bearer \u0001\u0002",
          `Content-Length: ${len}`,
        ], sdp),
      ],
      [
        "Content-Type with odd parameters",
        request([
          "POST /whip/live HTTP/1.1",
          'Content-Type: application/sdp; ;=; charset="',
          auth,
          "Content-Length: 4",
        ], "v=0\n"),
      ],
    ];
    // The WHEP extension routes read bodies too: a live viewer's SSE and layer URLs.
    const pub = await fetch(server.url + "/whip/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${TOKEN}` },
      body: OBS_30,
    });
    await pub.body?.cancel();
    const view = await fetch(server.url + "/whep/live", {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: CHROMIUM_WHEP,
    });
    await view.body?.cancel();
    const viewer = view.headers.get("Location")!;
    for (const route of ["/sse", "/layer"]) {
      rows.push(
        [
          `${route}: Content-Length longer than the body`,
          request([`POST ${viewer}${route} HTTP/1.1`, "Content-Length: 500"], "[]"),
        ],
        [
          `${route}: truncated chunked body`,
          request([`POST ${viewer}${route} HTTP/1.1`, "Transfer-Encoding: chunked"], "ffff\r\n["),
        ],
      );
    }
    for (const [what, bytes] of rows) {
      const status = await rawRequest(server.port, bytes);
      assert(status === 0 || (status >= 200 && status < 500), `${what} → ${status}`);
    }
    const health = await fetch(server.url + "/healthz");
    assertEquals(health.status, 200);
    await health.body?.cancel();
    // The publisher and viewer made above, and at most one from a valid offer among the rows.
    assert(server.manager.sessions.size <= 3, `${server.manager.sessions.size} sessions`);
  } finally {
    await server.close();
  }
});
