/**
 * SRTP protect/unprotect cost per 1200-byte RTP packet: werift's SrtpSession (the baseline),
 * the TypeScript backend and libsrtp over FFI, for both DTLS-SRTP profiles.
 *
 * Run: deno bench --allow-all bench/srtp.bench.ts (filter with --filter "/^(ts|libsrtp)/": werift's
 * AES-CM leaves a native cipher per packet unfinished, and the GC pauses that follow inflate the
 * averages of whatever runs after it).
 *
 * Measured 2026-11-23, Deno 2.9.6, 2-core AMD EPYC shared with other jobs (load average ~5, so
 * averages are noisy; min / p75 in µs per 1200-byte packet, libsrtp2 2.5.0 from Debian):
 *
 *   protect, AES_CM_128_HMAC_SHA1_80   werift 8.9 / 16.0   ts 6.3 / 9.5   libsrtp 4.6 / 5.9
 *   protect, AEAD_AES_128_GCM          werift 8.6 / 14.0   ts 5.2 / 5.9   libsrtp 1.5 / 1.6
 *   protect + unprotect, AES-CM        ts 12.5 / 14.9      libsrtp 8.9 / 10.5
 *   protect + unprotect, GCM           ts 11.0 / 12.3      libsrtp 2.5 / 2.9
 */
import { RtpHeader, SrtpSession as WeriftSrtpSession } from "werift";
import { SRTP_MAX_TRAILER, SrtpProfile, type SrtpProfileId } from "../src/transport/srtp.ts";
import { tsSrtpBackend } from "../src/transport/srtp-ts.ts";
import { loadLibsrtp } from "../src/transport/srtp-libsrtp.ts";

const PACKET_LENGTH = 1200;
const libsrtp = loadLibsrtp();
if (!libsrtp.available) console.log(`libsrtp benches skipped: ${libsrtp.reason}`);

function keys(profile: SrtpProfileId) {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  const key = new Uint8Array(16).map((_, i) => i * 17 + 3);
  const salt = new Uint8Array(saltLength).map((_, i) => i * 5 + 1);
  return { profile, localKey: key, localSalt: salt, remoteKey: key, remoteSalt: salt };
}

/** An RTP packet of PACKET_LENGTH bytes with a two-extension header, seq advanced per call. */
function packet(): Uint8Array {
  const b = new Uint8Array(PACKET_LENGTH + SRTP_MAX_TRAILER);
  b.set([0x90, 96, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0xbe, 0xde, 0, 2]);
  b.set([0x10, 0x61, 0x31, 0x00, 0x20, 0x12, 0x34, 0x56], 16);
  for (let i = 24; i < PACKET_LENGTH; i++) b[i] = i * 31;
  return b;
}

for (
  const [label, profile] of [
    ["AES_CM_128_HMAC_SHA1_80", SrtpProfile.AES_CM_128_HMAC_SHA1_80],
    ["AEAD_AES_128_GCM", SrtpProfile.AEAD_AES_128_GCM],
  ] as const
) {
  const k = keys(profile);
  {
    const werift = new WeriftSrtpSession({
      keys: {
        localMasterKey: Buffer.from(k.localKey),
        localMasterSalt: Buffer.from(k.localSalt),
        remoteMasterKey: Buffer.from(k.remoteKey),
        remoteMasterSalt: Buffer.from(k.remoteSalt),
      },
      profile,
    });
    const raw = Buffer.from(packet().subarray(0, PACKET_LENGTH));
    const header = RtpHeader.deSerialize(raw);
    const payload = raw.subarray(header.payloadOffset);
    let seq = 0;
    Deno.bench(
      { name: `werift encrypt ${label}`, group: `protect ${label}`, baseline: true },
      () => {
        header.sequenceNumber = seq = (seq + 1) & 0xffff;
        werift.encrypt(payload, header);
      },
    );
  }
  const backends = [tsSrtpBackend];
  if (libsrtp.available) backends.push(libsrtp.backend);
  for (const backend of backends) {
    const sender = backend.createSession(k);
    const receiver = backend.createSession(k); // same keys both ways: it unprotects what sender made
    const buf = packet();
    const out = new Uint8Array(buf.length);
    const plain = new Uint8Array(buf.length);
    let seq = 0;
    Deno.bench({ name: `${backend.name} protectRtp ${label}`, group: `protect ${label}` }, () => {
      seq = (seq + 1) & 0xffff;
      buf[2] = seq >> 8;
      buf[3] = seq;
      sender.protectRtp(buf, PACKET_LENGTH, out);
    });
    // Unprotect needs a fresh packet each time (replay protection): protect one, unprotect it.
    let seq2 = 0;
    const src = packet();
    const enc = new Uint8Array(src.length);
    const encSender = backend.createSession(k);
    Deno.bench({
      name: `${backend.name} protect+unprotect ${label}`,
      group: `round trip ${label}`,
    }, () => {
      seq2 = (seq2 + 1) & 0xffff;
      src[2] = seq2 >> 8;
      src[3] = seq2;
      const n = encSender.protectRtp(src, PACKET_LENGTH, enc);
      if (receiver.unprotectRtp(enc, n, plain) < 0) throw new Error("unprotect failed");
    });
  }
}
