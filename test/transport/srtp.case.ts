/**
 * Conformance suite every SRTP backend must pass (Hono's common.case pattern): call
 * {@link runSrtpConformance} from a backend's own test file. werift's SrtpSession/SrtcpSession
 * serve as the independent reference for bit-exact interop.
 */
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { RtpHeader, SrtcpSession, SrtpSession as WeriftSrtpSession } from "werift";
import {
  SRTCP_MAX_TRAILER,
  SRTP_MAX_TRAILER,
  type SrtpBackend,
  SrtpError,
  type SrtpKeyMaterial,
  SrtpProfile,
  type SrtpProfileId,
  type SrtpSession,
} from "../../src/transport/srtp.ts";

/** The profiles under test, with a readable name. */
export const PROFILES: ReadonlyArray<readonly [string, SrtpProfileId]> = [
  ["AES_CM_128_HMAC_SHA1_80", SrtpProfile.AES_CM_128_HMAC_SHA1_80],
  ["AEAD_AES_128_GCM", SrtpProfile.AEAD_AES_128_GCM],
];

function pattern(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (seed + i * 29 + (i >> 3) * 7) & 0xff;
  return b;
}

/** Key material for side A (A's local = B's remote). */
export function keysFor(profile: SrtpProfileId, seed = 1): SrtpKeyMaterial {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  return {
    profile,
    localKey: pattern(16, seed),
    localSalt: pattern(saltLength, seed + 50),
    remoteKey: pattern(16, seed + 100),
    remoteSalt: pattern(saltLength, seed + 150),
  };
}

/** The same association seen from the other end. */
export function mirror(k: SrtpKeyMaterial): SrtpKeyMaterial {
  return {
    profile: k.profile,
    localKey: k.remoteKey,
    localSalt: k.remoteSalt,
    remoteKey: k.localKey,
    remoteSalt: k.localSalt,
  };
}

/** Options for {@link rtp}. */
export interface RtpSpec {
  seq: number;
  ssrc?: number;
  timestamp?: number;
  payloadLength?: number;
  csrcs?: number[];
  /** RFC 8285 one-byte extensions as [id, bytes]. */
  extensions?: Array<[number, number[]]>;
  /** Padding bytes to append (last byte = count), sets P. */
  padding?: number;
}

/** Builds an RTP packet byte by byte (RFC 3550 §5.1, RFC 8285 §4.2). */
export function rtp(spec: RtpSpec): Uint8Array {
  const csrcs = spec.csrcs ?? [];
  let ext: number[] = [];
  if (spec.extensions) {
    for (const [id, bytes] of spec.extensions) ext.push((id << 4) | (bytes.length - 1), ...bytes);
    while (ext.length % 4 !== 0) ext.push(0);
    ext = [0xbe, 0xde, (ext.length / 4) >> 8, (ext.length / 4) & 0xff, ...ext];
  }
  const payloadLength = spec.payloadLength ?? 160;
  const padding = spec.padding ?? 0;
  const headerLength = 12 + 4 * csrcs.length + ext.length;
  const b = new Uint8Array(headerLength + payloadLength + padding);
  const v = new DataView(b.buffer);
  b[0] = 0x80 | (padding ? 0x20 : 0) | (spec.extensions ? 0x10 : 0) | csrcs.length;
  b[1] = 96;
  v.setUint16(2, spec.seq & 0xffff);
  v.setUint32(4, spec.timestamp ?? spec.seq * 3000);
  v.setUint32(8, spec.ssrc ?? 0x11223344);
  csrcs.forEach((c, i) => v.setUint32(12 + 4 * i, c));
  b.set(ext, 12 + 4 * csrcs.length);
  b.set(pattern(payloadLength, spec.seq), headerLength);
  if (padding) b[b.length - 1] = padding;
  return b;
}

/** A sender report + SDES-like body of `bodyWords` words (RFC 3550 §6.4.1). */
export function rtcp(ssrc = 0x11223344, bodyWords = 6): Uint8Array {
  const b = new Uint8Array(8 + 4 * bodyWords);
  const v = new DataView(b.buffer);
  b[0] = 0x80;
  b[1] = 200;
  v.setUint16(2, 1 + bodyWords);
  v.setUint32(4, ssrc);
  b.set(pattern(4 * bodyWords, ssrc & 0xff), 8);
  return b;
}

/** Protects with a fresh output buffer; asserts success and returns the SRTP bytes. */
export function protect(s: SrtpSession, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(packet.length + SRTP_MAX_TRAILER);
  const n = s.protectRtp(packet, packet.length, out);
  assert(n > 0, `protectRtp returned ${n}`);
  return out.subarray(0, n);
}

/** Protects RTCP with a fresh output buffer; asserts success. */
export function protectRtcp(s: SrtpSession, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(packet.length + SRTCP_MAX_TRAILER);
  const n = s.protectRtcp(packet, packet.length, out);
  assert(n > 0, `protectRtcp returned ${n}`);
  return out.subarray(0, n);
}

/** Unprotects into a fresh buffer; returns the code or the plaintext bytes. */
export function unprotect(s: SrtpSession, packet: Uint8Array): number | Uint8Array {
  const out = new Uint8Array(packet.length);
  const n = s.unprotectRtp(packet, packet.length, out);
  return n < 0 ? n : out.subarray(0, n);
}

/** Unprotects RTCP into a fresh buffer; returns the code or the plaintext bytes. */
export function unprotectRtcp(s: SrtpSession, packet: Uint8Array): number | Uint8Array {
  const out = new Uint8Array(packet.length);
  const n = s.unprotectRtcp(packet, packet.length, out);
  return n < 0 ? n : out.subarray(0, n);
}

function weriftConfig(k: SrtpKeyMaterial) {
  return {
    keys: {
      localMasterKey: Buffer.from(k.localKey),
      localMasterSalt: Buffer.from(k.localSalt),
      remoteMasterKey: Buffer.from(k.remoteKey),
      remoteMasterSalt: Buffer.from(k.remoteSalt),
    },
    profile: k.profile,
  };
}

/** werift's protect of a raw RTP packet (it takes header and payload apart). */
function weriftProtect(w: WeriftSrtpSession, packet: Uint8Array): Uint8Array {
  const raw = Buffer.from(packet);
  const header = RtpHeader.deSerialize(raw);
  return new Uint8Array(w.encrypt(raw.subarray(header.payloadOffset), header));
}

/**
 * werift's AES-CM path creates a node:crypto cipher per packet and never calls `final()`, which
 * Deno's resource sanitizer reports as a leak; our own sessions are checked everywhere else.
 */
const WERIFT_LEAKS = { sanitizeResources: false } as const;

/** Runs a test body with sessions A and B (mirrored keys) and closes both. */
function withPair(
  backend: SrtpBackend,
  profile: SrtpProfileId,
  body: (a: SrtpSession, b: SrtpSession, keys: SrtpKeyMaterial) => void,
): void {
  const keys = keysFor(profile);
  const a = backend.createSession(keys);
  const b = backend.createSession(mirror(keys));
  try {
    body(a, b, keys);
  } finally {
    a.close();
    b.close();
  }
}

/**
 * Rows a receiver must accept in full: [label, order the sender protects in (contiguous
 * per its own counter, may wrap), order the receiver sees].
 */
const ACCEPT_ORDERS: ReadonlyArray<readonly [string, number[], number[]]> = [
  [
    "contiguous across the wrap",
    [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5],
    [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5],
  ],
  [
    "reordered across the wrap",
    [65533, 65534, 65535, 0, 1, 2, 3],
    [65533, 65535, 0, 65534, 2, 1, 3],
  ],
  ["starting at 0", [0, 1, 2, 3], [0, 1, 2, 3]],
  [
    "late packets within the window",
    [60, 100, 101, 102, 103, 104, 150],
    [100, 101, 103, 104, 150, 102, 60],
  ],
  [
    "large forward jumps through a wrap",
    [10, 20000, 40000, 60000, 65000, 100, 200],
    [10, 20000, 40000, 60000, 65000, 100, 200],
  ],
];

/** Registers the whole suite for `backend`. */
export function runSrtpConformance(backend: SrtpBackend): void {
  for (const [profileName, profile] of PROFILES) {
    const name = (what: string) => `srtp ${backend.name} ${profileName}: ${what}`;
    const tagLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 16 : 10;

    Deno.test(name("round trip keeps header, payload and length"), () => {
      withPair(backend, profile, (a, b) => {
        for (const size of [0, 1, 15, 16, 17, 160, 1188]) {
          const packet = rtp({ seq: 1000 + size, payloadLength: size });
          const srtp = protect(a, packet);
          assertEquals(srtp.length, packet.length + tagLength);
          assertEquals(srtp.subarray(0, 12), packet.subarray(0, 12), "header is not encrypted");
          if (size >= 4) assertNotEquals(srtp.subarray(12, 16), packet.subarray(12, 16));
          assertEquals(unprotect(b, srtp), packet);
        }
      });
    });

    Deno.test(name("in-place protect and unprotect match the copying form"), () => {
      withPair(backend, profile, (a, b) => {
        const packet = rtp({ seq: 7, payloadLength: 1188 });
        const ref = protect(a, packet);
        // A second session with the same keys yields the same bytes for the same packet.
        const a2 = backend.createSession(keysFor(profile));
        try {
          const buf = new Uint8Array(packet.length + SRTP_MAX_TRAILER);
          buf.set(packet);
          const n = a2.protectRtp(buf, packet.length, buf);
          assertEquals(buf.subarray(0, n), ref);
          const m = b.unprotectRtp(buf, n, buf);
          assertEquals(buf.subarray(0, m), packet);
        } finally {
          a2.close();
        }
      });
    });

    Deno.test(
      { name: name("bit-exact with werift SrtpSession, both directions"), ...WERIFT_LEAKS },
      () => {
        withPair(backend, profile, (a, _b, keys) => {
          const werift = new WeriftSrtpSession(weriftConfig(keys));
          const weriftPeer = new WeriftSrtpSession(weriftConfig(mirror(keys)));
          const specs: RtpSpec[] = [
            { seq: 1, payloadLength: 1188 },
            { seq: 2, payloadLength: 0 },
            { seq: 3, payloadLength: 33, padding: 3 },
            { seq: 4, csrcs: [0xaabbccdd, 0x01020304], payloadLength: 100 },
            { seq: 5, extensions: [[1, [0x61]], [3, [1, 2, 3]], [5, [9, 9]]], payloadLength: 500 },
            {
              seq: 6,
              csrcs: [7],
              extensions: [[2, [1, 2, 3, 4, 5, 6, 7, 8]]],
              padding: 8,
              payloadLength: 77,
            },
            { seq: 7, ssrc: 0xdeadbeef, payloadLength: 1200 },
          ];
          for (const spec of specs) {
            const packet = rtp(spec);
            const ours = protect(a, packet);
            const theirs = weriftProtect(werift, packet);
            assertEquals(ours, theirs, `seq ${spec.seq}`);
            assertEquals(new Uint8Array(weriftPeer.decrypt(Buffer.from(ours))), packet);
            // werift → us, from the other end's keys.
            const back = rtp({ ...spec, ssrc: 0x55667788 });
            assertEquals(unprotect(a, weriftProtect(weriftPeer, back)), back);
          }
        });
      },
    );

    Deno.test({
      name: name("sequence rollover: 65530 → 5 keeps decrypting, ROC advances"),
      ...WERIFT_LEAKS,
    }, () => {
      withPair(backend, profile, (a, b, keys) => {
        const werift = new WeriftSrtpSession(weriftConfig(keys));
        const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5];
        for (const seq of seqs) {
          const packet = rtp({ seq });
          const srtp = protect(a, packet);
          assertEquals(srtp, weriftProtect(werift, packet), `seq ${seq} matches werift`);
          assertEquals(unprotect(b, srtp), packet, `seq ${seq}`);
        }
        // Seq 5 after the wrap was protected with ROC 1: a fresh sender (ROC 0) differs.
        const fresh = backend.createSession(keys);
        try {
          const after = protect(a, rtp({ seq: 6 }));
          const rocZero = protect(fresh, rtp({ seq: 6 }));
          assertNotEquals(after, rocZero);
          assertEquals(unprotect(b, after), rtp({ seq: 6 }));
        } finally {
          fresh.close();
        }
      });
    });

    for (const [label, sendOrder, receiveOrder] of ACCEPT_ORDERS) {
      Deno.test(name(`receiver accepts: ${label}`), () => {
        withPair(backend, profile, (a, b) => {
          const bySeq = new Map<number, Uint8Array>();
          for (const seq of sendOrder) bySeq.set(seq, protect(a, rtp({ seq })));
          for (const seq of receiveOrder) {
            assertEquals(unprotect(b, bySeq.get(seq)!), rtp({ seq }), `seq ${seq}`);
          }
        });
      });
    }

    Deno.test(name("replay: the same packet twice → replayed"), () => {
      withPair(backend, profile, (a, b) => {
        const srtp = protect(a, rtp({ seq: 500 }));
        assertEquals(unprotect(b, srtp), rtp({ seq: 500 }));
        assertEquals(unprotect(b, srtp), SrtpError.replayed);
        const late = protect(a, rtp({ seq: 501 }));
        const next = protect(a, rtp({ seq: 502 }));
        assertEquals(unprotect(b, next), rtp({ seq: 502 }));
        assertEquals(unprotect(b, late), rtp({ seq: 501 }));
        assertEquals(unprotect(b, late), SrtpError.replayed);
      });
    });

    Deno.test(name("replay: older than the window → replayed"), () => {
      withPair(backend, profile, (a, b) => {
        const first = protect(a, rtp({ seq: 1 }));
        for (let seq = 2; seq < 300; seq++) protect(a, rtp({ seq }));
        assertEquals(unprotect(b, protect(a, rtp({ seq: 300 }))), rtp({ seq: 300 }));
        assertEquals(unprotect(b, first), SrtpError.replayed);
      });
    });

    Deno.test(name("tampered packets → authFailed, state unchanged"), () => {
      withPair(backend, profile, (a, b) => {
        const packet = rtp({ seq: 42, csrcs: [1], extensions: [[1, [5, 6]]], payloadLength: 300 });
        const srtp = protect(a, packet);
        // Payload, CSRC, extension, header fields and the tag are all authenticated.
        for (const at of [0 + 1, 3, 7, 11, 14, 17, 22, 40, srtp.length - 20, srtp.length - 1]) {
          const bad = srtp.slice();
          bad[at] ^= 0x01;
          const got = unprotect(b, bad);
          assertEquals(got, SrtpError.authFailed, `byte ${at}`);
        }
        assertEquals(unprotect(b, srtp.slice(0, srtp.length - 1)), SrtpError.authFailed);
        assertEquals(unprotect(b, srtp), packet, "the genuine packet still passes");
      });
    });

    Deno.test(name("wrong keys → authFailed"), () => {
      const keys = keysFor(profile);
      const a = backend.createSession(keys);
      const other = backend.createSession(mirror(keysFor(profile, 9)));
      try {
        assertEquals(unprotect(other, protect(a, rtp({ seq: 1 }))), SrtpError.authFailed);
      } finally {
        a.close();
        other.close();
      }
    });

    Deno.test(name("padding is encrypted and kept"), () => {
      withPair(backend, profile, (a, b) => {
        const packet = rtp({ seq: 9, payloadLength: 20, padding: 12 });
        const srtp = protect(a, packet);
        assertNotEquals(srtp[packet.length - 1], 12, "the padding count is ciphertext");
        assertEquals(unprotect(b, srtp), packet);
        const onlyPadding = rtp({ seq: 10, payloadLength: 0, padding: 4 });
        assertEquals(unprotect(b, protect(a, onlyPadding)), onlyPadding);
      });
    });

    Deno.test(name("CSRCs and header extensions are authenticated, not encrypted"), () => {
      withPair(backend, profile, (a, b) => {
        const packet = rtp({
          seq: 77,
          csrcs: [0x01020304, 0x05060708, 0x090a0b0c],
          extensions: [[1, [0x6d]], [2, [1, 2, 3]], [14, [0xff, 0xee, 0xdd, 0xcc]]],
          payloadLength: 64,
        });
        const headerLength = 12 + 12 + 4 + 12;
        const srtp = protect(a, packet);
        assertEquals(srtp.subarray(0, headerLength), packet.subarray(0, headerLength));
        assertNotEquals(
          srtp.subarray(headerLength, headerLength + 16),
          packet.subarray(headerLength, headerLength + 16),
        );
        assertEquals(unprotect(b, srtp), packet);
      });
    });

    Deno.test(name("independent state per SSRC"), () => {
      withPair(backend, profile, (a, b) => {
        const x = protect(a, rtp({ seq: 65535, ssrc: 1 }));
        const y = protect(a, rtp({ seq: 100, ssrc: 2 }));
        const x2 = protect(a, rtp({ seq: 0, ssrc: 1 }));
        const y2 = protect(a, rtp({ seq: 101, ssrc: 2 }));
        assertEquals(unprotect(b, x), rtp({ seq: 65535, ssrc: 1 }));
        assertEquals(unprotect(b, y), rtp({ seq: 100, ssrc: 2 }));
        assertEquals(unprotect(b, y2), rtp({ seq: 101, ssrc: 2 }));
        assertEquals(unprotect(b, x2), rtp({ seq: 0, ssrc: 1 }));
        assertEquals(unprotect(b, y), SrtpError.replayed);
      });
    });

    Deno.test(name("malformed and short inputs return codes"), () => {
      withPair(backend, profile, (a, b) => {
        const out = new Uint8Array(2000);
        const good = rtp({ seq: 1 });
        assertEquals(a.protectRtp(good, 11, out), SrtpError.tooShort);
        assertEquals(
          a.protectRtp(good, good.length, new Uint8Array(good.length)),
          SrtpError.tooShort,
        );
        const v1 = good.slice();
        v1[0] = 0x40;
        assertEquals(a.protectRtp(v1, v1.length, out), SrtpError.malformed);
        const badExt = rtp({ seq: 2, extensions: [[1, [1]]], payloadLength: 0 });
        badExt[15] = 200; // extension length beyond the packet
        assertEquals(a.protectRtp(badExt, badExt.length, out), SrtpError.malformed);
        assertEquals(b.unprotectRtp(good, 12 + tagLength - 1, out), SrtpError.tooShort);
        assertEquals(a.protectRtcp(rtcp(), 7, out), SrtpError.tooShort);
        assertEquals(b.unprotectRtcp(rtcp(), 8, out), SrtpError.tooShort);
      });
    });

    Deno.test(name("RTCP round trip, replay and tamper"), () => {
      withPair(backend, profile, (a, b) => {
        const trailer = profile === SrtpProfile.AEAD_AES_128_GCM ? 20 : 14;
        for (const words of [0, 1, 6, 40, 290]) {
          const packet = rtcp(0xcafe0000 + words, words);
          const srtcp = protectRtcp(a, packet);
          assertEquals(srtcp.length, packet.length + trailer);
          assertEquals(srtcp.subarray(0, 8), packet.subarray(0, 8));
          assertEquals(unprotectRtcp(b, srtcp), packet);
          assertEquals(unprotectRtcp(b, srtcp), SrtpError.replayed);
        }
        const packet = rtcp();
        const first = protectRtcp(a, packet);
        const second = protectRtcp(a, packet);
        assertNotEquals(first, second, "each SRTCP packet has its own index");
        const bad = second.slice();
        bad[10] ^= 0x80;
        assertEquals(unprotectRtcp(b, bad), SrtpError.authFailed);
        assertEquals(unprotectRtcp(b, second), packet);
        assertEquals(unprotectRtcp(b, first), packet, "late within the window");
        // In place.
        const buf = new Uint8Array(packet.length + SRTCP_MAX_TRAILER);
        buf.set(packet);
        const n = a.protectRtcp(buf, packet.length, buf);
        const m = b.unprotectRtcp(buf, n, buf);
        assertEquals(buf.subarray(0, m), packet);
      });
    });

    Deno.test({
      name: name("RTCP bit-exact with werift SrtcpSession, both directions"),
      ...WERIFT_LEAKS,
    }, () => {
      withPair(backend, profile, (a, _b, keys) => {
        const werift = new SrtcpSession(weriftConfig(keys));
        const weriftPeer = new SrtcpSession(weriftConfig(mirror(keys)));
        for (const words of [1, 6, 30]) {
          const packet = rtcp(0x0badf00d, words);
          const ours = protectRtcp(a, packet);
          assertEquals(ours, new Uint8Array(werift.encrypt(Buffer.from(packet))));
          assertEquals(new Uint8Array(weriftPeer.decrypt(Buffer.from(ours))), packet);
          const back = rtcp(0x0000beef, words);
          const theirs = new Uint8Array(weriftPeer.encrypt(Buffer.from(back)));
          assertEquals(unprotectRtcp(a, theirs), back);
        }
      });
    });

    Deno.test(name("close is idempotent"), () => {
      const s = backend.createSession(keysFor(profile));
      s.close();
      s.close();
      const out = new Uint8Array(500);
      const packet = rtp({ seq: 1 });
      assert(s.protectRtp(packet, packet.length, out) < 0, "closed sessions refuse packets");
    });
  }

  Deno.test(`srtp ${backend.name}: createSession rejects bad key material`, () => {
    const keys = keysFor(SrtpProfile.AES_CM_128_HMAC_SHA1_80);
    let threw = 0;
    for (
      const bad of [
        { ...keys, localKey: new Uint8Array(15) },
        { ...keys, remoteSalt: new Uint8Array(12) },
        { ...keys, profile: 0x0002 as SrtpProfileId },
      ]
    ) {
      try {
        backend.createSession(bad).close();
      } catch (e) {
        assert(e instanceof Error);
        threw++;
      }
    }
    assertEquals(threw, 3);
  });
}
