/**
 * SRTP/SRTCP protection behind one small interface, so the data plane can use the fastest
 * backend available (libsrtp through Deno FFI, or the TypeScript fallback) without knowing which.
 *
 * Hot-path contract shared by every backend: methods take caller-owned buffers, never allocate
 * result objects, never throw for a bad packet, and return a length or a negative {@link SrtpError}.
 *
 * @module
 */

/** DTLS-SRTP protection profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const SrtpProfile = { AES_CM_128_HMAC_SHA1_80: 0x0001, AEAD_AES_128_GCM: 0x0007 } as const;

/** One of the {@link SrtpProfile} values. */
export type SrtpProfileId = 0x0001 | 0x0007;

/** Master keys and salts exported from the DTLS handshake (RFC 5764 §4.2). */
export interface SrtpKeyMaterial {
  profile: SrtpProfileId;
  /** Keys we protect (send) with. */
  localKey: Uint8Array;
  localSalt: Uint8Array;
  /** Keys we unprotect (receive) with. */
  remoteKey: Uint8Array;
  remoteSalt: Uint8Array;
}

/**
 * Negative results (small integer codes, never thrown on the packet path).
 *
 * `tooShort` also covers an output buffer that is too small: protecting needs the input length
 * plus {@link SRTP_MAX_TRAILER} / {@link SRTCP_MAX_TRAILER}; unprotecting needs the input length
 * (libsrtp works in place). After a negative result the content of `out` is unspecified (and of
 * `buf` too when out is buf: libsrtp's GCM decrypts before it checks the tag).
 */
export const SrtpError = { malformed: -1, authFailed: -2, replayed: -3, tooShort: -4 } as const;

/** Room an output buffer needs beyond the input length when protecting RTP (GCM tag). */
export const SRTP_MAX_TRAILER = 16;
/** Room an output buffer needs beyond the input length when protecting RTCP (E+index, tag). */
export const SRTCP_MAX_TRAILER = 20;

/** One DTLS-SRTP association: a send direction (local keys) and a receive direction (remote keys). */
export interface SrtpSession {
  /** Protects the RTP packet buf[0..len) into out (out may be buf: in place). Returns the SRTP length or a negative SrtpError. */
  protectRtp(buf: Uint8Array, len: number, out: Uint8Array): number;
  /** Unprotects SRTP buf[0..len) into out (may be buf). Returns the plaintext RTP length or a negative SrtpError (auth, replay). */
  unprotectRtp(buf: Uint8Array, len: number, out: Uint8Array): number;
  /** Protects the (compound) RTCP packet buf[0..len) into out (may be buf). Returns the SRTCP length or a negative SrtpError. */
  protectRtcp(buf: Uint8Array, len: number, out: Uint8Array): number;
  /** Unprotects SRTCP buf[0..len) into out (may be buf). Returns the plaintext RTCP length or a negative SrtpError. */
  unprotectRtcp(buf: Uint8Array, len: number, out: Uint8Array): number;
  /** Frees native state; idempotent. */
  close(): void;
}

/** A way to create {@link SrtpSession}s; pick one with `selectSrtpBackend`. */
export interface SrtpBackend {
  readonly name: "ts" | "libsrtp";
  /** Runs the key schedule once; throws on bad key material (wrong lengths, unknown profile). */
  createSession(keys: SrtpKeyMaterial): SrtpSession;
}

/** Master key length in bytes for both supported profiles (RFC 3711 §8.2, RFC 7714 §12). */
export const SRTP_MASTER_KEY_LENGTH = 16;

/** Master salt length in bytes: 112 bits for AES-CM (RFC 3711 §8.2), 96 bits for GCM (RFC 7714 §12). */
export function srtpMasterSaltLength(profile: SrtpProfileId): number {
  return profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
}

/** Throws a descriptive Error unless `keys` fits its profile; shared by every backend. */
export function validateSrtpKeyMaterial(keys: SrtpKeyMaterial): void {
  if (
    keys.profile !== SrtpProfile.AES_CM_128_HMAC_SHA1_80 &&
    keys.profile !== SrtpProfile.AEAD_AES_128_GCM
  ) {
    throw new Error(`unsupported SRTP profile 0x${Number(keys.profile).toString(16)}`);
  }
  const saltLength = srtpMasterSaltLength(keys.profile);
  for (
    const [name, value, want] of [
      ["localKey", keys.localKey, SRTP_MASTER_KEY_LENGTH],
      ["remoteKey", keys.remoteKey, SRTP_MASTER_KEY_LENGTH],
      ["localSalt", keys.localSalt, saltLength],
      ["remoteSalt", keys.remoteSalt, saltLength],
    ] as const
  ) {
    if (!(value instanceof Uint8Array) || value.length !== want) {
      throw new Error(
        `SRTP ${name} must be ${want} bytes for profile 0x${keys.profile.toString(16)}`,
      );
    }
  }
}

/**
 * RTP header length (RFC 3550 §5.1, §5.3.1): fixed part, CSRCs and the extension block, all
 * authenticated but not encrypted. Returns -1 when it does not fit in len bytes. Shared by the
 * backends so they validate packets identically.
 */
export function rtpHeaderLength(buf: Uint8Array, len: number): number {
  let n = 12 + 4 * (buf[0] & 0x0f);
  if ((buf[0] & 0x10) !== 0) {
    if (n + 4 > len) return -1;
    n += 4 + 4 * ((buf[n + 2] << 8) | buf[n + 3]);
  }
  return n > len ? -1 : n;
}
