import { assertEquals } from "@std/assert";
import { keysFor, mirror, protect, rtp, unprotect } from "./srtp.case.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { loadGnutlsSeal } from "../../src/transport/srtp-gnutls-seal.ts";
import { SrtpProfile } from "../../src/transport/srtp.ts";
import { SendPool } from "../../src/transport/send-pool.ts";

// Loaded at module level: the libraries stay open for the process (see srtp-libsrtp.ts).
const libsrtp = loadLibsrtp();
const gnutls = loadGnutlsSeal();
const GCM = SrtpProfile.AEAD_AES_128_GCM;

if (!libsrtp.available || !gnutls.available) {
  const why = !libsrtp.available ? libsrtp.reason : !gnutls.available ? gnutls.reason : "";
  console.log(`skipping GnuTLS sealing tests: ${why}`);
  Deno.test({ name: "srtp gnutls seal (library unavailable)", ignore: true, fn() {} });
} else {
  const sealed = libsrtp.backend;
  const plain = sealed.withoutGnutls();

  Deno.test("srtp gnutls seal: the libsrtp backend seals GCM RTP with GnuTLS when it loads", () => {
    assertEquals(sealed.rtpSeal, "gnutls");
    assertEquals(plain.rtpSeal, "libsrtp");
  });

  Deno.test("srtp gnutls seal: bit-exact with libsrtp's own protect, wraps and resends", () => {
    const keys = keysFor(GCM, 71);
    const ours = sealed.createSession(keys);
    const theirs = plain.createSession(keys);
    const receiver = plain.createSession(mirror(keys));
    try {
      // Contiguous through a wrap, a resend of a packet from before it (its old ROC), a
      // second SSRC, then forward jumps; empty, padded, CSRC and extension headers.
      const wrap = [...Array(30).keys()].map((i) => (65525 + i) & 0xffff);
      const seqs = [...wrap, 65530, 3, 1000, 30000, 50000, 50001];
      for (const [i, seq] of seqs.entries()) {
        const packet = rtp({
          seq,
          ssrc: i % 4 === 3 && i < wrap.length ? 0xcafe0001 : 0x11223344,
          payloadLength: i === 5 ? 0 : (seq * 7) % 1200,
          padding: seq % 5 === 0 ? 4 : 0,
          csrcs: seq % 3 === 0 ? [seq] : [],
          extensions: seq % 2 === 0 ? [[1, [seq & 0xff]], [4, [1, 2, 3]]] : undefined,
        });
        const a = protect(ours, packet);
        assertEquals(a, protect(theirs, packet), `seq ${seq}`);
        // A resend is a replay to the receiver, which decrypted the original.
        if (seqs.indexOf(seq) === i) assertEquals(unprotect(receiver, a), packet, `seq ${seq}`);
      }
    } finally {
      ours.close();
      theirs.close();
      receiver.close();
    }
  });

  Deno.test("srtp gnutls seal: in place, into pool slots and into a buffer smaller than the input", () => {
    const keys = keysFor(GCM, 72);
    const ours = sealed.createSession(keys);
    const theirs = plain.createSession(keys);
    const pool = new SendPool(4);
    try {
      for (let seq = 10; seq < 20; seq++) {
        const packet = rtp({ seq, payloadLength: 900 });
        const want = protect(theirs, packet);
        // In place: room for the tag after the packet.
        const inPlace = new Uint8Array(packet.length + 16);
        inPlace.set(packet);
        assertEquals(ours.protectRtp(inPlace, packet.length, inPlace), want.length);
        assertEquals(inPlace, want);
        // A slot of a slab (a view at an offset), as the node:dgram link hands out.
        const slot = pool.acquire();
        const view = pool.view(slot);
        const big = new Uint8Array(1600);
        big.set(packet);
        // Again for the same packet index: a resend, which keeps its ROC and IV.
        assertEquals(ours.protectRtp(big, packet.length, view), want.length);
        assertEquals(view.subarray(0, want.length), want);
        pool.release(slot);
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  Deno.test("srtp gnutls seal: AES-CM stays on libsrtp, closed sessions refuse", () => {
    const cm = sealed.createSession(keysFor(SrtpProfile.AES_CM_128_HMAC_SHA1_80, 73));
    const cmPlain = plain.createSession(keysFor(SrtpProfile.AES_CM_128_HMAC_SHA1_80, 73));
    const packet = rtp({ seq: 1 });
    assertEquals(protect(cm, packet), protect(cmPlain, packet));
    cm.close();
    cmPlain.close();
    const gcm = sealed.createSession(keysFor(GCM, 74));
    gcm.close();
    gcm.close();
    assertEquals(gcm.protectRtp(packet, packet.length, new Uint8Array(400)) < 0, true);
  });
}
