/**
 * werift's DTLS client and server over an in-memory datagram link, for the DTLS guard tests:
 * each end's `tap` sees (and may drop) what it sends, `inject` delivers a late copy.
 */
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
import { guardDtlsServer } from "../../src/transport/dtls-server-guard.ts";

/** One end of an in-memory datagram link; `peer` receives what it sends (asynchronously). */
export class MemoryEnd implements Transport {
  type = "memory";
  address = { address: "127.0.0.1", family: "IPv4", port: 0 };
  closed = false;
  onData: Transport["onData"] = () => {};
  peer: MemoryEnd | undefined;
  /** Sees each datagram sent; false drops it. */
  tap: (data: Buffer) => boolean = () => true;

  send = (data: Buffer): Promise<void> => {
    const peer = this.peer;
    if (this.tap(data) && !this.closed && peer) {
      setTimeout(() => peer.closed || peer.onData(data, ["127.0.0.1", 0]));
    }
    return Promise.resolve();
  };

  /** Delivers `data` to this end as if the peer had sent it (a late copy). */
  inject(data: Buffer): void {
    setTimeout(() => this.closed || this.onData(data, ["127.0.0.1", 0]));
  }

  close = (): Promise<void> => {
    this.closed = true;
    return Promise.resolve();
  };
}

export interface Pair {
  client: DtlsClient;
  server: DtlsServer;
  toClient: MemoryEnd;
  toServer: MemoryEnd;
  connected: Promise<unknown>;
  close(): Promise<void>;
}

/** A client and a server, both guarded unless `guardServer` is false; not yet connecting. */
export async function pair(guardServer = true): Promise<Pair> {
  guardDtlsClientFlight5();
  const { certPem, keyPem, signatureHash } = await CipherContext
    .createSelfSignedCertificateWithKey(
      { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
      NamedCurveAlgorithm.secp256r1_23,
    );
  const toServer = new MemoryEnd();
  const toClient = new MemoryEnd();
  toServer.peer = toClient;
  toClient.peer = toServer;
  const options = {
    cert: certPem,
    key: keyPem,
    signatureHash,
    srtpProfiles: [1 as const],
    extendedMasterSecret: true,
  };
  const server = new DtlsServer({ ...options, transport: toServer, certificateRequest: true });
  if (guardServer) guardDtlsServer(server);
  const client = new DtlsClient({ ...options, transport: toClient });
  const connected = Promise.all([
    new Promise<void>((r) => client.onConnect.once(() => r())),
    new Promise<void>((r) => server.onConnect.once(() => r())),
  ]);
  return {
    client,
    server,
    toClient,
    toServer,
    connected,
    close: async () => {
      toServer.closed = true;
      toClient.closed = true;
      client.close();
      server.close();
      // Let werift's flight retransmission timers run out (the op sanitizer counts them).
      await new Promise((r) => setTimeout(r, 1200));
    },
  };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
