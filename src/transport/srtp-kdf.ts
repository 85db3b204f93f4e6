/**
 * SRTP key derivation (RFC 3711 §4.3.1 with key_derivation_rate 0, the only rate DTLS-SRTP
 * uses), shared by AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM (RFC 7714 §11 reuses the
 * AES-CM PRF; its 96-bit master salt is zero-extended to 112 bits, as libsrtp does).
 *
 * Runs once per session at creation, never per packet.
 *
 * @module
 */
import { createCipheriv } from "node:crypto";

/** Key derivation labels (RFC 3711 §4.3.2, §4.3.3). */
export const SrtpKdfLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;

/**
 * Derives `lengthBytes` of session keying material for `label` from a master key and salt.
 *
 * @example const k = deriveSrtpSessionKey(masterKey, masterSalt, SrtpKdfLabel.rtpEncryption, 16);
 */
export function deriveSrtpSessionKey(
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
  label: number,
  lengthBytes: number,
): Uint8Array {
  // x = (label || r) XOR master_salt, with r = 0 (kdr = 0): the label lands on byte 7 of the
  // 14-byte salt; the PRF is AES-CM keyed with the master key over IV = x * 2^16 (§4.3.3).
  const blocks = Math.ceil(lengthBytes / 16);
  const input = new Uint8Array(blocks * 16);
  for (let b = 0; b < blocks; b++) {
    const o = b * 16;
    for (let i = 0; i < 14 && i < masterSalt.length; i++) input[o + i] = masterSalt[i];
    input[o + 7] ^= label;
    input[o + 14] = b >> 8;
    input[o + 15] = b & 0xff;
  }
  const ecb = createCipheriv("aes-128-ecb", masterKey, null);
  ecb.setAutoPadding(false);
  const stream = ecb.update(input);
  ecb.final(); // releases Deno's native cipher resource
  return new Uint8Array(stream.subarray(0, lengthBytes));
}
