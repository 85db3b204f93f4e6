// werift's DTLS client against werift's DTLS server over an in-memory link: a copy of the
// server's flights 2 and 4 that reaches the client after the handshake (a retransmission that
// crossed the client's flight 5, as under CPU load or on a slow link) must not change the
// client's keys. Unguarded, werift runs flight 5 again with a new master secret and both
// ends' SRTP keys disagree (issue 12: viewers that never decode).
import { assertEquals, assertNotEquals } from "@std/assert";
import type { Buffer } from "node:buffer";
import { hex, pair } from "../support/dtls-pair.ts";

async function handshakeThenReplayFlights(): Promise<{ before: string; after: string }> {
  // Only the client's guard is under test here.
  const p = await pair(false);
  const { client, server, toClient, toServer } = p;
  // What the server sends in flights 2 (HelloVerifyRequest) and 4 (ServerHello …
  // ServerHelloDone).
  const flight4: Buffer[] = [];
  const flight2: Buffer[] = [];
  toServer.tap = (data) => {
    if (server.dtls.flight === 4) flight4.push(data);
    if (server.dtls.flight === 2) flight2.push(data);
    return true;
  };
  await client.connect();
  await p.connected;
  const keys = () => client.extractSessionKeys(16, 14);
  const before = keys();
  assertEquals(hex(before.localKey), hex(server.extractSessionKeys(16, 14).remoteKey));
  assertNotEquals(flight4.length, 0, "the server's flight 4 was seen");
  for (const datagram of [...flight2, ...flight4]) toClient.onData(datagram, ["127.0.0.1", 0]);
  // werift's client waits for each flight-4 message in 100 ms steps before running flight 5.
  await new Promise((r) => setTimeout(r, 1500));
  const after = keys();
  await p.close();
  return { before: hex(before.localKey), after: hex(after.localKey) };
}

Deno.test("dtls: copies of the server's flights 2 and 4 after the handshake leaves werift's client keys alone", async () => {
  const { before, after } = await handshakeThenReplayFlights();
  assertEquals(after, before);
});
