/**
 * SRTP through the system libsrtp 2 (Debian: libsrtp2-1) over Deno FFI: no C shim, the
 * srtp_policy_t is laid out by hand. Measured 2026-11-23 (Deno 2.9.6, libsrtp 2.5.0, 2-core AMD
 * EPYC, 1200-byte packets, min / p75): protect 1.5 / 1.6 µs GCM, 4.6 / 5.9 µs AES-CM
 * (bench/srtp.bench.ts). Calling the four symbols through one shared helper made the FFI call
 * site polymorphic and cost about 2 µs per packet, hence one call site per method.
 *
 * Loaded lazily on first use; every failure (no library, FFI not permitted, unknown version,
 * unsupported platform) becomes a reason string so `selectSrtpBackend("auto")` can fall back.
 * Tests that run with Deno's resource sanitizer should call {@link loadLibsrtp} at module top
 * level: the library stays loaded for the life of the process, which the sanitizer would
 * otherwise report as a leak of the first test that triggered the load.
 *
 * Hot path: synchronous FFI calls (not `nonblocking`), libsrtp works in place on the caller's
 * `out` buffer (input copied there first unless out is buf); the length travels through a
 * preallocated Int32Array. libsrtp writes at most the tag (RTP) or E+index+tag (RTCP) past the
 * input, which the {@link SRTP_MAX_TRAILER}/{@link SRTCP_MAX_TRAILER} check guarantees room for.
 *
 * @module
 */
import {
  rtpHeaderLength,
  SRTCP_MAX_TRAILER,
  SRTP_MAX_TRAILER,
  type SrtpBackend,
  SrtpError,
  type SrtpKeyMaterial,
  SrtpProfile,
  type SrtpProfileId,
  type SrtpSession,
  validateSrtpKeyMaterial,
} from "./srtp.ts";
import { GnutlsRtpSealer, loadGnutlsSeal } from "./srtp-gnutls-seal.ts";

/** Names tried in order with Deno.dlopen. */
const LIBRARY_NAMES: Record<string, readonly string[]> = {
  linux: ["libsrtp2.so.1", "libsrtp2.so"],
  darwin: ["libsrtp2.1.dylib", "libsrtp2.dylib"],
};

const SYMBOLS = {
  srtp_init: { parameters: [], result: "i32" },
  srtp_get_version: { parameters: [], result: "u32" },
  srtp_get_version_string: { parameters: [], result: "pointer" },
  srtp_create: { parameters: ["buffer", "buffer"], result: "i32" },
  srtp_dealloc: { parameters: ["pointer"], result: "i32" },
  srtp_protect: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  srtp_unprotect: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  srtp_protect_rtcp: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  srtp_unprotect_rtcp: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  srtp_crypto_policy_set_rtp_default: { parameters: ["buffer"], result: "void" },
  srtp_crypto_policy_set_rtcp_default: { parameters: ["buffer"], result: "void" },
  srtp_crypto_policy_set_aes_gcm_128_16_auth: { parameters: ["buffer"], result: "void" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/**
 * srtp_policy_t of libsrtp 2.1–2.x on LP64 targets (srtp2/srtp.h; offsets checked against the
 * 2.5.0 header): ssrc {type i32, value u32} @0, rtp srtp_crypto_policy_t (6 × 32-bit) @8,
 * rtcp @32, key* @56, keys** @64, num_master_keys (unsigned long) @72, deprecated_ekt* @80,
 * window_size (unsigned long) @88, allow_repeat_tx (int) @96, enc_xtn_hdr* @104,
 * enc_xtn_hdr_count (int) @112, next* @120; 128 bytes. 2.0 lacked keys/num_master_keys.
 */
const Policy = {
  size: 128,
  ssrcType: 0,
  rtp: 8,
  rtcp: 32,
  cryptoPolicySize: 24,
  key: 56,
  windowSize: 88,
  allowRepeatTx: 96,
} as const;

/** srtp_ssrc_type_t (srtp2/srtp.h). */
const SsrcType = { anyInbound: 2, anyOutbound: 3 } as const;

/** srtp_err_status_t values we map (srtp2/srtp.h). */
const Status = { ok: 0, badParam: 2, authFail: 7, replayFail: 9, replayOld: 10 } as const;

/** Replay window, as in the TypeScript backend (libsrtp's default). */
const REPLAY_WINDOW = 128;

function mapStatus(status: number): number {
  if (status === Status.authFail) return SrtpError.authFailed;
  if (status === Status.replayFail || status === Status.replayOld) return SrtpError.replayed;
  return SrtpError.malformed;
}

/** Result of {@link loadLibsrtp}. */
export type LibsrtpStatus =
  | { readonly available: true; readonly version: string; readonly backend: LibsrtpBackend }
  | { readonly available: false; readonly reason: string };

let loaded: LibsrtpStatus | undefined;

/** Loads and initialises libsrtp once; later calls return the first outcome. Never throws. */
export function loadLibsrtp(): LibsrtpStatus {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): LibsrtpStatus {
  const names = LIBRARY_NAMES[Deno.build.os];
  if (names === undefined) return unavailable(`unsupported OS ${Deno.build.os}`);
  // The hand-made policy layout assumes 64-bit pointers and longs and a little-endian CPU.
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return unavailable(`unsupported CPU ${Deno.build.arch}`);
  }
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return unavailable("FFI is not permitted (run with --allow-ffi)");
    }
  } catch {
    // Older permission APIs: let dlopen report it.
  }
  const errors: string[] = [];
  for (const name of names) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(name, SYMBOLS);
    } catch (e) {
      errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const sym = lib.symbols;
    const v = sym.srtp_get_version();
    const major = v >>> 24, minor = (v >>> 16) & 0xff;
    const versionPointer = sym.srtp_get_version_string();
    const version = versionPointer === null
      ? `${major}.${minor}.${v & 0xffff}`
      : Deno.UnsafePointerView.getCString(versionPointer);
    if (major !== 2 || minor < 1) {
      lib.close();
      return unavailable(`${name} is ${version}; only libsrtp 2.1–2.x is supported`);
    }
    const status = sym.srtp_init();
    // The crypto kernel is per process and shared by every Worker: a second srtp_init finds it
    // initialised and fails only on re-registering its debug module (bad_param, status 2).
    if (status !== Status.ok && status !== Status.badParam) {
      lib.close();
      return unavailable(`srtp_init failed with status ${status}`);
    }
    return { available: true, version, backend: new LibsrtpBackend(sym) };
  }
  return unavailable(`cannot load libsrtp 2 (${errors.join("; ")})`);
}

function unavailable(reason: string): LibsrtpStatus {
  return { available: false, reason };
}

/** Frees contexts of sessions that were garbage-collected without close(). */
const finalizer = new FinalizationRegistry<() => void>((free) => free());

/**
 * Creates one srtp_t for a direction from a policy built in an off-heap buffer (a fresh
 * ArrayBuffer, so its address is stable for the call; libsrtp copies the key).
 */
function createContext(
  sym: Symbols,
  profile: SrtpProfileId,
  key: Uint8Array,
  salt: Uint8Array,
  ssrcType: number,
): Deno.PointerValue {
  const memory = new ArrayBuffer(Policy.size + 32);
  const view = new DataView(memory);
  view.setInt32(Policy.ssrcType, ssrcType, true);
  const rtp = new Uint8Array(memory, Policy.rtp, Policy.cryptoPolicySize);
  const rtcp = new Uint8Array(memory, Policy.rtcp, Policy.cryptoPolicySize);
  if (profile === SrtpProfile.AEAD_AES_128_GCM) {
    sym.srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
    sym.srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
  } else {
    sym.srtp_crypto_policy_set_rtp_default(rtp); // AES_CM_128_HMAC_SHA1_80
    sym.srtp_crypto_policy_set_rtcp_default(rtcp);
  }
  const keyBytes = new Uint8Array(memory, Policy.size, key.length + salt.length);
  keyBytes.set(key);
  keyBytes.set(salt, key.length);
  const keyAddress = Deno.UnsafePointer.value(Deno.UnsafePointer.of(keyBytes));
  view.setBigUint64(Policy.key, BigInt(keyAddress), true);
  view.setBigUint64(Policy.windowSize, BigInt(REPLAY_WINDOW), true);
  // Retransmissions without RTX resend the same sequence number with the same payload; the TS
  // backend allows them too (RFC 3711 §3.3.2 asks only the receiver to check replay).
  view.setInt32(Policy.allowRepeatTx, 1, true);
  const result = new BigUint64Array(1);
  const status = sym.srtp_create(
    new Uint8Array(result.buffer),
    new Uint8Array(memory, 0, Policy.size),
  );
  keyBytes.fill(0);
  if (status !== Status.ok) throw new Error(`libsrtp srtp_create failed with status ${status}`);
  return Deno.UnsafePointer.create(result[0]);
}

class LibsrtpSession implements SrtpSession {
  readonly #sym: Symbols;
  readonly #tx: Deno.PointerValue;
  readonly #rx: Deno.PointerValue;
  readonly #rtpTag: number;
  readonly #rtcpTrailer: number;
  readonly #length = new Int32Array(1);
  readonly #lengthBytes = new Uint8Array(this.#length.buffer);
  /** Outbound GCM RTP sealed by GnuTLS instead of libsrtp's NSS (see srtp-gnutls-seal.ts). */
  readonly #seal: GnutlsRtpSealer | undefined;
  #closed = false;

  constructor(sym: Symbols, keys: SrtpKeyMaterial, gnutls: boolean) {
    validateSrtpKeyMaterial(keys);
    this.#sym = sym;
    const gcm = keys.profile === SrtpProfile.AEAD_AES_128_GCM;
    this.#rtpTag = gcm ? 16 : 10;
    this.#rtcpTrailer = gcm ? 20 : 14;
    // First: it throws before anything native of this session exists.
    this.#seal = gcm && gnutls ? new GnutlsRtpSealer(keys.localKey, keys.localSalt) : undefined;
    const tx = createContext(
      sym,
      keys.profile,
      keys.localKey,
      keys.localSalt,
      SsrcType.anyOutbound,
    );
    let rx: Deno.PointerValue;
    try {
      rx = createContext(sym, keys.profile, keys.remoteKey, keys.remoteSalt, SsrcType.anyInbound);
    } catch (e) {
      sym.srtp_dealloc(tx);
      this.#seal?.close();
      throw e;
    }
    this.#tx = tx;
    this.#rx = rx;
    finalizer.register(this, () => {
      sym.srtp_dealloc(tx);
      sym.srtp_dealloc(rx);
    }, this);
  }

  protectRtp(buf: Uint8Array, len: number, out: Uint8Array): number {
    if (this.#closed || len > buf.length) return SrtpError.malformed;
    if (len < 12) return SrtpError.tooShort;
    if ((buf[0] & 0xc0) !== 0x80) return SrtpError.malformed;
    if (out.length < len + this.#rtpTag) return SrtpError.tooShort;
    const headerLength = rtpHeaderLength(buf, len);
    if (headerLength < 0) return SrtpError.malformed;
    if (this.#seal !== undefined) return this.#seal.seal(buf, len, headerLength, out);
    this.#prepare(buf, len, out);
    const status = this.#sym.srtp_protect(this.#tx, out, this.#lengthBytes);
    return status === Status.ok ? this.#length[0] : mapStatus(status);
  }

  unprotectRtp(buf: Uint8Array, len: number, out: Uint8Array): number {
    if (this.#closed || len > buf.length) return SrtpError.malformed;
    if (len < 12 + this.#rtpTag) return SrtpError.tooShort;
    if ((buf[0] & 0xc0) !== 0x80) return SrtpError.malformed;
    if (out.length < len) return SrtpError.tooShort; // libsrtp decrypts in place before trimming
    if (rtpHeaderLength(buf, len - this.#rtpTag) < 0) return SrtpError.malformed;
    this.#prepare(buf, len, out);
    const status = this.#sym.srtp_unprotect(this.#rx, out, this.#lengthBytes);
    return status === Status.ok ? this.#length[0] : mapStatus(status);
  }

  protectRtcp(buf: Uint8Array, len: number, out: Uint8Array): number {
    if (this.#closed || len > buf.length) return SrtpError.malformed;
    if (len < 8) return SrtpError.tooShort;
    if ((buf[0] & 0xc0) !== 0x80) return SrtpError.malformed;
    if (out.length < len + this.#rtcpTrailer) return SrtpError.tooShort;
    this.#prepare(buf, len, out);
    const status = this.#sym.srtp_protect_rtcp(this.#tx, out, this.#lengthBytes);
    return status === Status.ok ? this.#length[0] : mapStatus(status);
  }

  unprotectRtcp(buf: Uint8Array, len: number, out: Uint8Array): number {
    if (this.#closed || len > buf.length) return SrtpError.malformed;
    if (len < 8 + this.#rtcpTrailer) return SrtpError.tooShort;
    if ((buf[0] & 0xc0) !== 0x80) return SrtpError.malformed;
    if (out.length < len) return SrtpError.tooShort;
    this.#prepare(buf, len, out);
    const status = this.#sym.srtp_unprotect_rtcp(this.#rx, out, this.#lengthBytes);
    return status === Status.ok ? this.#length[0] : mapStatus(status);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    finalizer.unregister(this);
    this.#sym.srtp_dealloc(this.#tx);
    this.#sym.srtp_dealloc(this.#rx);
    this.#seal?.close();
  }

  /**
   * Copies the input into out (libsrtp works in place) and stores the length. Each method then
   * calls its own symbol, so every FFI call site stays monomorphic (V8 fast calls).
   *
   * The whole of `buf` is copied when it fits: `set` of a whole array is one memcpy, while the
   * forwarding path's 1,600-byte scratch holding a 1,200-byte packet used to take a byte loop
   * (~0.3 µs of a ~2 µs GCM protect, measured 2026-12-07); a `subarray` would allocate per
   * packet. The bytes past `len` are never read.
   */
  #prepare(buf: Uint8Array, len: number, out: Uint8Array): void {
    if (out !== buf) {
      if (buf.length <= out.length) out.set(buf);
      else for (let i = 0; i < len; i++) out[i] = buf[i];
    }
    this.#length[0] = len;
  }
}

/** SRTP on the system libsrtp 2; obtain it through `loadLibsrtp()` or `selectSrtpBackend`. */
export class LibsrtpBackend implements SrtpBackend {
  readonly name = "libsrtp" as const;
  readonly #sym: Symbols;
  /**
   * Who seals outbound AEAD_AES_128_GCM RTP: "gnutls" when the system GnuTLS loads (about
   * 1.4 µs less per forwarded packet than libsrtp's NSS, see srtp-gnutls-seal.ts), else
   * "libsrtp". Everything else (receiving, SRTCP, AES-CM) is libsrtp's either way.
   */
  readonly rtpSeal: "gnutls" | "libsrtp";
  /** Why GnuTLS does not seal, when it does not. */
  readonly rtpSealReason: string | undefined;

  /** @internal Use {@link loadLibsrtp}. */
  constructor(sym: Symbols, gnutls = true) {
    this.#sym = sym;
    const status = gnutls ? loadGnutlsSeal() : { available: false, reason: "not asked for" };
    this.rtpSeal = status.available ? "gnutls" : "libsrtp";
    this.rtpSealReason = status.available ? undefined : status.reason;
  }

  createSession(keys: SrtpKeyMaterial): SrtpSession {
    return new LibsrtpSession(this.#sym, keys, this.rtpSeal === "gnutls");
  }

  /** The same backend with libsrtp sealing everything itself (comparisons, diagnostics). */
  withoutGnutls(): LibsrtpBackend {
    return new LibsrtpBackend(this.#sym, false);
  }
}

/** Room a caller must leave past the input (re-exported for FFI callers' buffer sizing). */
export const LIBSRTP_TRAILERS = { rtp: SRTP_MAX_TRAILER, rtcp: SRTCP_MAX_TRAILER } as const;
