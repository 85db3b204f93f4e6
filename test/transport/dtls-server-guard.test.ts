// werift's DTLS server against werift's DTLS client over an in-memory link, with the copies of
// the client's flights a browser sends when the server is slow (a retransmission timer of tens
// of milliseconds on loopback) delivered late. Unguarded, a late copy of the first ClientHello made the
// server draw a new random and key pair mid-handshake: both ends said connected with different
// SRTP keys (issue 13: a page whose whole subscribe connection received nothing), or the
// handshake never completed; a ClientHello after the handshake reset the server's state.
import { assert, assertEquals } from "@std/assert";
import { hex, type Pair, pair } from "../support/dtls-pair.ts";

/** Both ends' SRTP keys agree (the client's local key is the server's remote key and back). */
function assertSameKeys({ client, server }: Pair): void {
  const c = client.extractSessionKeys(16, 14);
  const s = server.extractSessionKeys(16, 14);
  assertEquals(hex(c.localKey), hex(s.remoteKey), "client → server key");
  assertEquals(hex(c.remoteKey), hex(s.localKey), "server → client key");
  assertEquals(hex(c.localSalt), hex(s.remoteSalt), "client → server salt");
}

Deno.test("dtls server: a copy of the first ClientHello after flight 4 leaves the handshake and keys alone", async () => {
  const p = await pair();
  try {
    const hello: Buffer[] = [];
    let injected = false;
    p.toClient.tap = (data) => {
      if (p.client.dtls.flight === 1 && !p.client.dtls.cookie) hello.push(data);
      return true;
    };
    p.toServer.tap = () => {
      // The server's flight 4 is on its way: a copy of the client's first hello arrives next,
      // before the client's key exchange (the retransmission a stalled server reads late).
      if (p.server.dtls.flight === 4 && !injected) {
        injected = true;
        for (const datagram of hello) p.toServer.inject(datagram);
      }
      return true;
    };
    await p.client.connect();
    await p.connected;
    assert(injected && hello.length > 0, "the copy was delivered after flight 4");
    assertSameKeys(p);
  } finally {
    await p.close();
  }
});

Deno.test("dtls server: a copy of the ClientHello with the cookie after flight 4 leaves the handshake and keys alone", async () => {
  const p = await pair();
  try {
    const hello: Buffer[] = [];
    let injected = false;
    p.toClient.tap = (data) => {
      // The client's second hello: the one that answers the cookie (flight 3).
      if (p.client.dtls.flight === 3) hello.push(data);
      return true;
    };
    p.toServer.tap = () => {
      // A client retransmits flight 3 when flight 4 is slow: its copy reaches the server after
      // flight 4 went out (werift answers it as a retransmission; kept so it stays that way).
      if (p.server.dtls.flight === 4 && !injected && hello.length > 0) {
        injected = true;
        for (const datagram of hello) p.toServer.inject(datagram);
      }
      return true;
    };
    await p.client.connect();
    await p.connected;
    assert(injected, "the copy was delivered after flight 4");
    assertSameKeys(p);
  } finally {
    await p.close();
  }
});

Deno.test("dtls server: copies of every client flight after the handshake keep it connected with its keys", async () => {
  const p = await pair();
  try {
    const sent: Buffer[] = [];
    p.toClient.tap = (data) => {
      sent.push(data);
      return true;
    };
    const errors: unknown[] = [];
    p.server.onError.subscribe((e) => errors.push(e));
    await p.client.connect();
    await p.connected;
    const before = hex(p.server.extractSessionKeys(16, 14).localKey);
    // Both hellos (without and with the cookie), then flight 5 again.
    for (const datagram of sent) p.toServer.inject(datagram);
    await new Promise((r) => setTimeout(r, 300));
    for (const datagram of sent) p.toServer.inject(datagram);
    await new Promise((r) => setTimeout(r, 300));
    assert(p.server.connected, "the server is still connected");
    assertEquals(errors, []);
    assertEquals(hex(p.server.extractSessionKeys(16, 14).localKey), before);
    assertSameKeys(p);
  } finally {
    await p.close();
  }
});
