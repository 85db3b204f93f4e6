/**
 * Outbound SRTP with AEAD_AES_128_GCM (RFC 7714) sealed by the system GnuTLS (Debian:
 * libgnutls30, which apt itself depends on) over Deno FFI: one call per packet,
 * `gnutls_aead_cipher_encrypt`, on a cipher handle keyed once per session.
 *
 * Why: Debian's libsrtp2 does its AES-GCM through NSS's PKCS #11 layer, which looks up,
 * locks and allocates a context per packet: 2.2–2.5 µs to protect a 1,200-byte packet, where
 * GnuTLS (AES-NI and PCLMUL) takes 0.8–1.2 µs including the copy into the send buffer
 * (measured 2026-12-07, Deno 2.9.6, libsrtp 2.5.0, GnuTLS 3.7.9, 2-core AMD EPYC, 300,000
 * packets a round). Forwarding protects every packet once per viewer, so this is the SRTP
 * cost that scales with the audience; receiving, SRTCP and AES-CM stay on libsrtp.
 *
 * Loaded once per isolate; every failure becomes a reason, and the caller keeps libsrtp's own
 * protect. The per-SSRC rollover counter is kept here (libsrtp never sees these packets).
 *
 * @module
 */
import { deriveSrtpSessionKey, SrtpKdfLabel } from "./srtp-kdf.ts";
import { SrtpError } from "./srtp.ts";
import { estimateRoc } from "./srtp-ts.ts";

/**
 * gnutls_aead_cipher_encrypt(handle, nonce, nonce_len, auth, auth_len, tag_size, ptext,
 * ptext_len, ctext, *ctext_len). The sizes and the ptext and ctext addresses are size_t and
 * pointers passed as numbers (the payload starts inside the send buffer, and a subarray or a
 * pointer object per packet would allocate); Deno's declarations type a usize argument as a
 * bigint only, hence the list is declared as plain native types.
 */
const ENCRYPT_PARAMETERS: Deno.NativeType[] = [
  "pointer",
  "buffer",
  "usize",
  "buffer",
  "usize",
  "usize",
  "usize",
  "usize",
  "usize",
  "buffer",
];

const SYMBOLS = {
  gnutls_check_version: { parameters: ["buffer"], result: "pointer" },
  gnutls_aead_cipher_init: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  gnutls_aead_cipher_encrypt: { parameters: ENCRYPT_PARAMETERS, result: "i32" },
  gnutls_aead_cipher_deinit: { parameters: ["pointer"], result: "void" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** gnutls_cipher_algorithm_t (gnutls/gnutls.h). */
const GNUTLS_CIPHER_AES_128_GCM = 10;
/** 3.6: the AEAD API encrypts in place on every backend (it has existed since 3.4). */
const MIN_VERSION = "3.6.0";
const TAG = 16;

/** What {@link loadGnutlsSeal} found. */
export type GnutlsSealStatus =
  | { readonly available: true; readonly version: string }
  | { readonly available: false; readonly reason: string };

let loaded: { status: GnutlsSealStatus; sym?: Symbols } | undefined;

/** Loads GnuTLS once; later calls return the first outcome. Never throws. */
export function loadGnutlsSeal(): GnutlsSealStatus {
  loaded ??= tryLoad();
  return loaded.status;
}

function tryLoad(): { status: GnutlsSealStatus; sym?: Symbols } {
  const fail = (reason: string) => ({ status: { available: false as const, reason } });
  if (Deno.build.os !== "linux") return fail(`GnuTLS sealing is set up for Linux only`);
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return fail(`unsupported CPU ${Deno.build.arch}`);
  }
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return fail("FFI is not permitted (run with --allow-ffi)");
    }
    const lib = Deno.dlopen("libgnutls.so.30", SYMBOLS);
    const want = new TextEncoder().encode(MIN_VERSION + "\0");
    const version = lib.symbols.gnutls_check_version(want);
    if (version === null) {
      lib.close();
      return fail(`libgnutls.so.30 is older than ${MIN_VERSION}`);
    }
    const text = Deno.UnsafePointerView.getCString(lib.symbols.gnutls_check_version(null)!);
    return { status: { available: true, version: text }, sym: lib.symbols };
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

/** Frees the handles of sealers that were garbage-collected without close(). */
const finalizer = new FinalizationRegistry<() => void>((free) => free());

/**
 * The native address of a send buffer, cached by its ArrayBuffer: the syscall path sends
 * from one scratch per isolate, or from the send batch's arena, and node:dgram's slots are
 * views of one slab, so this looks an address up once per buffer, not per packet (two are
 * kept: the scratch and the arena alternate). An ArrayBuffer's memory never moves (reading
 * `.buffer` moves a small typed array's bytes off the heap for good).
 */
let bufferA: ArrayBufferLike | undefined;
let baseA = 0;
let bufferB: ArrayBufferLike | undefined;
let baseB = 0;

function addressOf(out: Uint8Array): number {
  const buffer = out.buffer;
  if (buffer === bufferA) return baseA + out.byteOffset;
  if (buffer !== bufferB) {
    bufferB = buffer;
    baseB = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
  }
  // The latest first: the next look-up of the same buffer is the first comparison.
  const b = bufferA, base = baseA;
  bufferA = bufferB;
  baseA = baseB;
  bufferB = b;
  baseB = base;
  return baseA + out.byteOffset;
}

/**
 * Seals outbound SRTP packets of one session (its local keys) with AES-128-GCM: IV and AAD
 * as RFC 7714 §8, the rollover counter estimated per SSRC from our own sequence numbers as
 * libsrtp does (a retransmission reuses its original ROC).
 */
export class GnutlsRtpSealer {
  readonly #sym: Symbols;
  readonly #handle: Deno.PointerValue;
  readonly #salt: Uint8Array;
  readonly #nonce = new Uint8Array(12);
  /** ROC and highest sequence number per SSRC, packed as ROC·2^16 + SEQ. */
  readonly #highest = new Map<number, number>();
  /** size_t written by GnuTLS; its high word stays 0. */
  readonly #ctextLength = new Uint32Array(2);
  readonly #ctextLengthBytes = new Uint8Array(this.#ctextLength.buffer);
  #closed = false;

  /** Throws when GnuTLS is not loaded ({@link loadGnutlsSeal}) or refuses the key. */
  constructor(masterKey: Uint8Array, masterSalt: Uint8Array) {
    loadGnutlsSeal();
    const sym = loaded?.sym;
    if (!sym) throw new Error("GnuTLS is not loaded");
    this.#sym = sym;
    // A fresh ArrayBuffer: its address is stable for the call (GnuTLS copies the key).
    const key = new Uint8Array(new ArrayBuffer(16));
    key.set(deriveSrtpSessionKey(masterKey, masterSalt, SrtpKdfLabel.rtpEncryption, 16));
    this.#salt = deriveSrtpSessionKey(masterKey, masterSalt, SrtpKdfLabel.rtpSalt, 12);
    // gnutls_datum_t { unsigned char *data; unsigned int size; }.
    const datum = new BigUint64Array(2);
    datum[0] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(key)));
    datum[1] = 16n;
    const handle = new BigUint64Array(1);
    const status = sym.gnutls_aead_cipher_init(
      new Uint8Array(handle.buffer),
      GNUTLS_CIPHER_AES_128_GCM,
      new Uint8Array(datum.buffer),
    );
    key.fill(0);
    if (status !== 0) throw new Error(`gnutls_aead_cipher_init failed with ${status}`);
    const pointer = Deno.UnsafePointer.create(handle[0]);
    this.#handle = pointer;
    finalizer.register(this, () => sym.gnutls_aead_cipher_deinit(pointer), this);
  }

  /**
   * Seals the RTP packet buf[0..len), whose header is `headerLength` bytes (checked by the
   * caller, as is room for the tag in `out`), into out; returns the SRTP length or a negative
   * SrtpError. `out` may be `buf`.
   */
  seal(buf: Uint8Array, len: number, headerLength: number, out: Uint8Array): number {
    if (this.#closed) return SrtpError.malformed;
    const seq = (buf[2] << 8) | buf[3];
    const ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
    const known = this.#highest.get(ssrc);
    let roc = 0;
    if (known === undefined) {
      this.#highest.set(ssrc, seq);
    } else {
      const highRoc = Math.floor(known / 65536);
      roc = estimateRoc(highRoc, known & 0xffff, seq);
      const index = roc * 65536 + seq;
      if (index > known) this.#highest.set(ssrc, index);
    }
    // IV = salt XOR (0x0000 || SSRC || ROC || SEQ) (RFC 7714 §8.1).
    const iv = this.#nonce;
    const salt = this.#salt;
    iv[0] = salt[0];
    iv[1] = salt[1];
    iv[2] = salt[2] ^ (ssrc >>> 24);
    iv[3] = salt[3] ^ ((ssrc >>> 16) & 0xff);
    iv[4] = salt[4] ^ ((ssrc >>> 8) & 0xff);
    iv[5] = salt[5] ^ (ssrc & 0xff);
    iv[6] = salt[6] ^ (roc >>> 24);
    iv[7] = salt[7] ^ ((roc >>> 16) & 0xff);
    iv[8] = salt[8] ^ ((roc >>> 8) & 0xff);
    iv[9] = salt[9] ^ (roc & 0xff);
    iv[10] = salt[10] ^ (seq >>> 8);
    iv[11] = salt[11] ^ (seq & 0xff);
    // Sealed in place in `out`: the header (the AAD, §8.2) is read from there too. A whole
    // buffer's `set` is one memcpy; a byte loop only when it does not fit.
    if (out !== buf) {
      if (buf.length <= out.length) out.set(buf);
      else for (let i = 0; i < len; i++) out[i] = buf[i];
    }
    const payload = len - headerLength;
    const at = addressOf(out) + headerLength;
    this.#ctextLength[0] = payload + TAG;
    const status = this.#sym.gnutls_aead_cipher_encrypt(
      this.#handle,
      iv,
      12,
      out,
      headerLength,
      TAG,
      at,
      payload,
      at,
      this.#ctextLengthBytes,
    );
    return status === 0 ? headerLength + this.#ctextLength[0] : SrtpError.malformed;
  }

  /** Frees the cipher handle; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    finalizer.unregister(this);
    this.#sym.gnutls_aead_cipher_deinit(this.#handle);
  }
}
