/**
 * struct mmsghdr and struct iovec as sendmmsg(2) and recvmmsg(2) read them on 64-bit Linux
 * (x86_64 and arm64 agree), written from TypeScript into buffers whose native addresses are
 * fixed: an ArrayBuffer's memory never moves.
 *
 * @module
 */

/** sizeof(struct mmsghdr): struct msghdr (56) + unsigned msg_len, padded. */
export const MMSGHDR_SIZE = 64;
/** sizeof(struct iovec). */
export const IOVEC_SIZE = 16;

/** Byte offsets in struct mmsghdr. */
export const Mmsghdr = {
  name: 0,
  nameLength: 8,
  iov: 16,
  iovLength: 24,
  control: 32,
  controlLength: 40,
  flags: 48,
  length: 56,
} as const;

/** The native address of an ArrayBuffer (once per buffer, never per packet). */
export function addressOf(buffer: ArrayBufferLike): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** Writes a 64-bit pointer or size at byte `offset` of a Uint32Array-viewed buffer. */
export function writeWord(words: Uint32Array, offset: number, value: number): void {
  const i = offset >>> 2;
  words[i] = value >>> 0; // ToUint32: the low word of an integer below 2^53
  words[i + 1] = Math.floor(value / 4294967296);
}

/**
 * A control message asking for UDP generic segmentation offload (`UDP_SEGMENT`, Linux 4.18):
 * CMSG_SPACE(sizeof(uint16_t)) bytes, of which the caller writes the segment size at
 * {@link GSO_SIZE_OFFSET}.
 */
export const GSO_CMSG_SIZE = 24;
/** Byte offset of the uint16 segment size in a {@link GSO_CMSG_SIZE} control message. */
export const GSO_SIZE_OFFSET = 16;

/** Writes the fixed part of a UDP_SEGMENT control message at byte `offset` of `bytes`. */
export function writeGsoHeader(bytes: Uint8Array, offset: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, GSO_CMSG_SIZE);
  view.setUint32(0, 18, true); // cmsg_len = CMSG_LEN(2), a size_t
  view.setUint32(4, 0, true);
  view.setInt32(8, 17, true); // cmsg_level = SOL_UDP
  view.setInt32(12, 103, true); // cmsg_type = UDP_SEGMENT
}
