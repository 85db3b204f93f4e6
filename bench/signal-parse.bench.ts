/**
 * Cost of reading one signalling message (docs/signalling.md): JSON, envelope and zod schema,
 * and the whole `SignalConnection.receive` path with a handler that does nothing. The budget:
 * 1000 participants at the 20 messages/s limit are 20k messages/s on one thread.
 *
 *   deno bench --allow-all bench/signal-parse.bench.ts
 */
import { clientParser, SignalConnection } from "../src/signal/mod.ts";

const parse = clientParser({ maxSdpBytes: 64 * 1024 });

const mute = JSON.stringify({ v: 1, t: "mute", id: 7, source: "microphone", muted: true });
const subscription = JSON.stringify({
  v: 1,
  t: "setSubscription",
  id: 8,
  items: Array.from({ length: 30 }, (_, i) => ({
    participant: `participant${i}`,
    source: "camera",
    maxHeight: i < 4 ? 360 : 180,
    stage: i === 0,
  })),
});
// A browser publish offer with audio, simulcast video and screen is about 6 KB.
const sdp = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n".repeat(100);
const offer = JSON.stringify({
  v: 1,
  t: "offer",
  id: 9,
  pc: "pub",
  sdp,
  sources: { "0": "microphone", "1": "camera", "2": "screen" },
});

Deno.bench("parse mute", { group: "parse", baseline: true }, () => {
  parse(JSON.parse(mute));
});
Deno.bench("parse setSubscription (30 items)", { group: "parse" }, () => {
  parse(JSON.parse(subscription));
});
Deno.bench(`parse offer (${sdp.length} B SDP)`, { group: "parse" }, () => {
  parse(JSON.parse(offer));
});

// A joined connection whose bucket never empties (the clock races ahead).
let clock = 0;
const connection = new SignalConnection({
  send: () => {},
  close: () => {},
  handler: { handle: () => undefined },
  parse,
  now: () => (clock += 1000),
});
connection.receive(JSON.stringify({ v: 1, t: "join", id: 0, token: "t" }));
await connection.idle();

Deno.bench("SignalConnection.receive mute (handled)", async () => {
  connection.receive(mute);
  await connection.idle();
});
