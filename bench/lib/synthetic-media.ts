/**
 * What the in-process data-plane cases forward: a publisher's 1200-byte VP8 packet with mid,
 * abs-send-time and transport-wide-cc extensions (werift's default IDs), and SRTP keys derived
 * from a seed so every consumer has its own session.
 */
import { ExtensionMap, ExtensionUri } from "../../src/rtp/header-extensions.ts";
import { Producer } from "../../src/sfu/producer.ts";
import type { SrtpKeyMaterial, SrtpProfileId } from "../../src/transport/srtp.ts";
import { SrtpProfile } from "../../src/transport/srtp.ts";

export const PACKET_LENGTH = 1200;

/** The publisher's and the viewers' extension IDs (werift's defaults: mid 1, abs 2, twcc 3). */
export const EXTMAPS = [
  { id: 1, uri: ExtensionUri.mid },
  { id: 2, uri: ExtensionUri.absSendTime },
  { id: 3, uri: ExtensionUri.transportWideCc },
];

export function srtpKeys(profile: SrtpProfileId, seed: number): SrtpKeyMaterial {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  const key = new Uint8Array(16).map((_, i) => (i * 17 + seed) & 0xff);
  const salt = new Uint8Array(saltLength).map((_, i) => (i * 5 + seed) & 0xff);
  return { profile, localKey: key, localSalt: salt, remoteKey: key, remoteSalt: salt };
}

/** A VP8 packet of PACKET_LENGTH bytes (a 640×480 key frame's first packet, or a delta). */
export function vp8Packet(keyframe: boolean): Uint8Array {
  const b = new Uint8Array(PACKET_LENGTH);
  b.set([0x90, 96, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0xbe, 0xde, 0, 3]);
  // mid "0" (id 1), abs-send-time (id 2, 3 bytes), twcc (id 3, 2 bytes), padding to 12 bytes.
  b.set([0x10, 0x30, 0x22, 0x01, 0x02, 0x03, 0x31, 0x00, 0x07, 0, 0, 0], 16);
  const payload = 28;
  b[payload] = 0x10;
  if (keyframe) {
    b[payload + 1] = 0x00;
    b.set([0x9d, 0x01, 0x2a, 640 & 0xff, 640 >> 8, 480 & 0xff, 480 >> 8], payload + 4);
  } else {
    b[payload + 1] = 0x01;
  }
  for (let i = payload + 12; i < PACKET_LENGTH; i++) b[i] = (i * 31) & 0xff;
  return b;
}

/** Writes sequence number, timestamp and marker of packet number i into `b`. */
export function stampPacket(b: Uint8Array, i: number): void {
  const seq = (i + 1) & 0xffff;
  const ts = Math.floor((i + 1) / 8) * 3000;
  b[2] = seq >> 8;
  b[3] = seq & 0xff;
  b[4] = ts >>> 24;
  b[5] = (ts >>> 16) & 0xff;
  b[6] = (ts >>> 8) & 0xff;
  b[7] = ts & 0xff;
  b[1] = (i & 7) === 7 ? 0xe0 : 0x60;
}

/** A publisher's VP8 track without simulcast, with the EXTMAPS extensions. */
export function vp8Producer(): Producer {
  return new Producer({
    kind: "video",
    mid: "0",
    codecName: "vp8",
    payloadType: 96,
    clockRate: 90000,
    rids: [],
    extensions: ExtensionMap.fromExtmaps(EXTMAPS),
    requestKeyframe: () => {},
  });
}
