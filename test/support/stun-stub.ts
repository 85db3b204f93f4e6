/**
 * A loopback STUN server for werift test clients: a non-lite werift agent always asks a STUN
 * server for its reflexive address (Google's when none is configured), and no test may
 * contact a public address. This answers Binding requests with XOR-MAPPED-ADDRESS (RFC 8489).
 */
import dgram from "node:dgram";

export interface StunStub {
  url: string;
  close(): Promise<void>;
}

export async function startStunStub(): Promise<StunStub> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    if (msg.length < 20 || msg[0] !== 0x00 || msg[1] !== 0x01) return;
    const response = new Uint8Array(32);
    response[0] = 0x01;
    response[1] = 0x01; // Binding success
    response[3] = 12; // attribute bytes
    response.set(msg.subarray(4, 20), 4); // magic cookie + transaction id
    response[20] = 0x00;
    response[21] = 0x20; // XOR-MAPPED-ADDRESS
    response[23] = 8;
    response[25] = 0x01; // IPv4
    const port = rinfo.port ^ 0x2112;
    response[26] = port >> 8;
    response[27] = port & 0xff;
    const parts = rinfo.address.split(".").map(Number);
    const cookie = [0x21, 0x12, 0xa4, 0x42];
    for (let i = 0; i < 4; i++) response[28 + i] = parts[i] ^ cookie[i];
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const { port } = socket.address() as { port: number };
  return {
    url: `stun:127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
