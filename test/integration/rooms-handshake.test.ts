/**
 * Room connections whose DTLS handshakes meet the retransmissions a busy server or a browser
 * makes (issue 13: a participant whose media reached nobody, a page that received nothing).
 * Every werift DTLS socket of the test, the server's and the participants', is made to send a
 * copy of an earlier flight at the worst moment, as a retransmission timer firing across the
 * peer's answer does:
 *
 * - a DTLS server sends its flight 4 again when the client's flight 5 arrives (what Chromium
 *   does when Quetzal's publish connection is slow to answer; werift's client must answer it
 *   with the same flight 5, not new keys: dtls-client-guard.ts);
 * - a DTLS client sends its first ClientHello again when the server's flight 4 arrives (werift's
 *   server then drew a new random and key mid-handshake: without dtls-server-guard.ts, these
 *   handshakes never complete and the test times out).
 *
 * Each participant publishes its camera and at once its microphone: the re-offer is answered
 * while the publish connection's handshake is still in progress.
 */
import { assertEquals, assertGreater } from "@std/assert";
import type { Buffer } from "node:buffer";
import { DtlsClient, DtlsServer, RTCDtlsTransport, type Transport } from "werift";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { checkPayloads, pumpUntil, type RoomClient, withRoom } from "../support/room-client.ts";
import { peerSessions } from "../support/sessions.ts";

loadLibsrtp();

const SERVER_HELLO = 2;
const CLIENT_KEY_EXCHANGE = 16;

/** A server's flight 4 again when the client's flight 5 comes (once per connection). */
function repeatFlight4(server: DtlsServer): void {
  const handle = server.onHandleHandshakes;
  let repeated = false;
  server.onHandleHandshakes = (assembled) => {
    if (!repeated && assembled.some((h) => h.msg_type === CLIENT_KEY_EXCHANGE)) {
      repeated = true;
      for (const datagram of server.dtls.lastMessage) void server.transport.send(datagram);
      crossings.flight4++;
    }
    return handle(assembled);
  };
}

/** A client's first ClientHello again when the server's flight 4 comes (once per connection). */
function repeatFirstHello(client: DtlsClient): void {
  const socket: Transport = client.transport.socket;
  const send = socket.send.bind(socket);
  let first: Buffer | undefined;
  socket.send = (data, addr) => {
    first ??= data;
    return send(data, addr);
  };
  const handle = client.onHandleHandshakes;
  let repeated = false;
  client.onHandleHandshakes = (assembled) => {
    if (!repeated && first && assembled.some((h) => h.msg_type === SERVER_HELLO)) {
      repeated = true;
      void send(first);
      crossings.hello++;
    }
    return handle(assembled);
  };
}

const crossings = { flight4: 0, hello: 0 };

/** Makes every DTLS socket werift starts from now on repeat a flight; returns the undo. */
function crossEveryHandshake(): () => void {
  const start = RTCDtlsTransport.prototype.start;
  RTCDtlsTransport.prototype.start = function (this: RTCDtlsTransport): Promise<void> {
    const started = start.call(this);
    // werift makes its socket synchronously in `start`; datagrams come on later turns.
    if (this.dtls instanceof DtlsServer) repeatFlight4(this.dtls);
    else if (this.dtls instanceof DtlsClient) repeatFirstHello(this.dtls);
    return started;
  };
  return () => {
    RTCDtlsTransport.prototype.start = start;
  };
}

/** `rx` receives `tx`'s camera (a track m-line) and voice (an audio slot): 10 packets each. */
function receivesAll(rx: RoomClient, tx: RoomClient): boolean {
  return rx.packetsOn(rx.midOf(tx.self, "camera")) >= 10 &&
    rx.packetsOn(rx.slotOf(tx.self)) >= 10;
}

Deno.test("rooms: four participants re-offering mid-handshake, with a DTLS flight repeated across every answer, all see and hear each other", async () => {
  const restore = crossEveryHandshake();
  try {
    await withRoom({}, async ({ join, server }) => {
      const clients: RoomClient[] = [];
      for (const name of ["A", "B", "C", "D"]) clients.push(await join("speaker", name));
      await Promise.all(clients.map(async (c) => {
        await c.publish("camera");
        // The microphone's re-offer, answered before the camera's handshake is done.
        await c.publish("microphone");
      }));
      const flowing = () =>
        clients.every((rx) => clients.every((tx) => tx === rx || receivesAll(rx, tx)));
      await pumpUntil(clients, flowing, "every camera and voice at every other participant", {
        timeoutMs: 30_000,
      });
      for (const rx of clients) {
        for (const tx of clients) {
          if (tx === rx) continue;
          assertGreater(checkPayloads(rx, rx.midOf(tx.self, "camera")!, tx, "camera"), 0);
          assertGreater(checkPayloads(rx, rx.slotOf(tx.self)!, tx, "microphone"), 0);
        }
      }
      // Every handshake on this thread met its copy: 8 connections on each side (publish and
      // subscribe per participant), werift's DTLS servers and clients on both. The server's
      // subscribe connections run in viewer workers (the default), where this patch does not
      // reach: their 4 DTLS servers make no repeated flight 4, but they still meet the
      // participants' repeated ClientHellos (dtls-server-guard.ts in the worker), and the
      // server's publish connections still meet the participants' repeated flight 4.
      const workerServers = server.workers ? 4 : 0;
      assertEquals(crossings, { flight4: 8 - workerServers, hello: 8 });
      assertEquals(server.workers?.placements().size ?? 0, workerServers, "worker subscribers");
      for (const session of peerSessions(server.manager)) {
        assertEquals(session.peer.counters.srtpErrors, 0, `${session.constructor.name} SRTP`);
      }
    });
  } finally {
    restore();
  }
});
