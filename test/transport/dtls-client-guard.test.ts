// werift's DTLS client against werift's DTLS server over an in-memory link: a copy of the
// server's flights 2 and 4 that reaches the client after the handshake (a retransmission that
// crossed the client's flight 5, as under CPU load or on a slow link) must not change the
// client's keys. Unguarded, werift runs flight 5 again with a new master secret and both
// ends' SRTP keys disagree (issue 12: viewers that never decode).
import { assertEquals, assertNotEquals } from "@std/assert";
import { Buffer } from "node:buffer";
import {
  CipherContext,
  DtlsClient,
  DtlsServer,
  HashAlgorithm,
  NamedCurveAlgorithm,
  SignatureAlgorithm,
  type Transport,
} from "werift";
import { guardDtlsClientFlight5 } from "../../src/transport/dtls-client-guard.ts";

/** One end of an in-memory datagram link; `peer` receives what it sends (asynchronously). */
class MemoryEnd implements Transport {
  type = "memory";
  address = { address: "127.0.0.1", family: "IPv4", port: 0 };
  closed = false;
  onData: Transport["onData"] = () => {};
  peer: MemoryEnd | undefined;
  /** Sees each datagram sent, before delivery. */
  tap: (data: Buffer) => void = () => {};

  send = (data: Buffer): Promise<void> => {
    this.tap(data);
    const peer = this.peer;
    if (!this.closed && peer) setTimeout(() => peer.closed || peer.onData(data, ["127.0.0.1", 0]));
    return Promise.resolve();
  };

  close = (): Promise<void> => {
    this.closed = true;
    return Promise.resolve();
  };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

async function handshakeThenReplayFlights(): Promise<{ before: string; after: string }> {
  const { certPem, keyPem, signatureHash } = await CipherContext
    .createSelfSignedCertificateWithKey(
      { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
      NamedCurveAlgorithm.secp256r1_23,
    );
  const toServer = new MemoryEnd();
  const toClient = new MemoryEnd();
  toServer.peer = toClient;
  toClient.peer = toServer;
  const options = { cert: certPem, key: keyPem, signatureHash, srtpProfiles: [1 as const] };
  const server = new DtlsServer({ ...options, transport: toServer, certificateRequest: true });
  const client = new DtlsClient({ ...options, transport: toClient, extendedMasterSecret: true });
  // What the server sends in flights 2 (HelloVerifyRequest) and 4 (ServerHello …
  // ServerHelloDone).
  const flight4: Buffer[] = [];
  const flight2: Buffer[] = [];
  toServer.tap = (data) => {
    if (server.dtls.flight === 4) flight4.push(data);
    if (server.dtls.flight === 2) flight2.push(data);
  };
  const connected = Promise.all([
    new Promise<void>((r) => client.onConnect.once(() => r())),
    new Promise<void>((r) => server.onConnect.once(() => r())),
  ]);
  await client.connect();
  await connected;
  const keys = () => client.extractSessionKeys(16, 14);
  const before = keys();
  assertEquals(hex(before.localKey), hex(server.extractSessionKeys(16, 14).remoteKey));
  assertNotEquals(flight4.length, 0, "the server's flight 4 was seen");
  for (const datagram of [...flight2, ...flight4]) toClient.onData(datagram, ["127.0.0.1", 0]);
  // werift's client waits for each flight-4 message in 100 ms steps before running flight 5.
  await new Promise((r) => setTimeout(r, 1500));
  const after = keys();
  toServer.closed = true;
  toClient.closed = true;
  client.close();
  server.close();
  // Let werift's flight retransmission timers run out (the op sanitizer counts them).
  await new Promise((r) => setTimeout(r, 1200));
  return { before: hex(before.localKey), after: hex(after.localKey) };
}

Deno.test("dtls: copies of the server's flights 2 and 4 after the handshake leaves werift's client keys alone", async () => {
  guardDtlsClientFlight5();
  const { before, after } = await handshakeThenReplayFlights();
  assertEquals(after, before);
});
