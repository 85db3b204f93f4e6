/**
 * NTP timestamp conversion for RTCP (RFC 3550 §4): seconds since 1900-01-01 in the upper 32
 * bits, fraction of a second in 1/2^32 s in the lower 32. Unix time is milliseconds since 1970.
 *
 * @module
 */

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970): 70 years with 17 leap days. */
export const NTP_UNIX_OFFSET_SEC = 2208988800;

const FRAC_PER_MS = 4294967.296; // 2^32 / 1000

/**
 * NTP seconds word for a Unix time in ms, modulo 2^32 (era 1 starts in 2036; RFC 5905 §6).
 *
 * @example ntpSecFromUnixMs(0) // 2208988800
 */
export function ntpSecFromUnixMs(unixMs: number): number {
  return (Math.floor(unixMs / 1000) + NTP_UNIX_OFFSET_SEC) >>> 0;
}

/**
 * NTP fraction word for a Unix time in ms (sub-millisecond parts kept).
 *
 * @example ntpFracFromUnixMs(500) // 0x80000000
 */
export function ntpFracFromUnixMs(unixMs: number): number {
  const ms = unixMs - Math.floor(unixMs / 1000) * 1000;
  const frac = Math.floor(ms * FRAC_PER_MS);
  return frac > 0xffffffff ? 0xffffffff : frac;
}

/**
 * Unix time in ms of an NTP timestamp in era 0 (until 2036).
 *
 * @example ntpToUnixMs(2208988800, 0x80000000) // 500
 */
export function ntpToUnixMs(ntpSec: number, ntpFrac: number): number {
  return (ntpSec - NTP_UNIX_OFFSET_SEC) * 1000 + ntpFrac / FRAC_PER_MS;
}

/**
 * Middle 32 bits of a 64-bit NTP timestamp: the "compact NTP" that LSR and DLSR use
 * (RFC 3550 §6.4.1), in 1/65536 s.
 *
 * @example compactNtp(0x12345678, 0x9abcdef0) // 0x56789abc
 */
export function compactNtp(ntpSec: number, ntpFrac: number): number {
  return (((ntpSec & 0xffff) << 16) | (ntpFrac >>> 16)) >>> 0;
}
