/**
 * A reusable, zero-allocation view of one decrypted inbound RTP packet (RFC 3550 §5.1).
 *
 * One instance lives per receive loop and is re-parsed for every packet; every consumer reads
 * the same fields (LiveKit's ExtPacket, parsed once and shared). Extension values are kept as
 * offsets into the buffer so that nothing is copied or decoded unless someone needs it.
 *
 * Budget: parse ≈ a few dozen byte reads; no allocation.
 */
import { Ext, type ExtensionMap } from "./header-extensions.ts";

const textDecoder = new TextDecoder();

export class InboundPacket {
  buf: Uint8Array = new Uint8Array(0);
  /** Bytes of the whole packet (header, payload, padding). */
  length = 0;
  payloadType = 0;
  marker = false;
  sequenceNumber = 0;
  timestamp = 0;
  ssrc = 0;
  csrcCount = 0;
  /** Offset of the payload. */
  payloadOffset = 0;
  /** Payload bytes, padding excluded. */
  payloadLength = 0;
  paddingLength = 0;
  /** Offset of the extension elements' data by kind, -1 when absent. */
  readonly extOffset: Int32Array = new Int32Array(8);
  /** Length of each present extension element's data. */
  readonly extLength: Int32Array = new Int32Array(8);
  /** Arrival time (ms, monotonic clock), set by the receiver. */
  arrivalMs = 0;

  /** Parses buf[0..len). Returns false for anything that is not well-formed RTP. */
  parse(buf: Uint8Array, len: number, extensions: ExtensionMap): boolean {
    if (len < 12 || (buf[0] >> 6) !== 2) return false;
    this.buf = buf;
    this.length = len;
    const b0 = buf[0];
    this.csrcCount = b0 & 0x0f;
    this.marker = (buf[1] & 0x80) !== 0;
    this.payloadType = buf[1] & 0x7f;
    this.sequenceNumber = (buf[2] << 8) | buf[3];
    this.timestamp = ((buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]) >>> 0;
    this.ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
    this.extOffset.fill(-1);
    let off = 12 + 4 * this.csrcCount;
    if (off > len) return false;
    if ((b0 & 0x10) !== 0) {
      if (off + 4 > len) return false;
      const profile = (buf[off] << 8) | buf[off + 1];
      const end = off + 4 + 4 * ((buf[off + 2] << 8) | buf[off + 3]);
      if (end > len) return false;
      if (profile === 0xbede) this.#parseOneByte(buf, off + 4, end, extensions);
      else if ((profile & 0xfff0) === 0x1000) this.#parseTwoByte(buf, off + 4, end, extensions);
      off = end;
    }
    this.paddingLength = (b0 & 0x20) !== 0 ? buf[len - 1] : 0;
    this.payloadOffset = off;
    this.payloadLength = len - off - this.paddingLength;
    return this.payloadLength >= 0 && (this.paddingLength > 0 || (b0 & 0x20) === 0);
  }

  // RFC 8285 §4.2: ID 0 is padding, 15 stops parsing, length is L+1.
  #parseOneByte(buf: Uint8Array, off: number, end: number, map: ExtensionMap): void {
    while (off < end) {
      const b = buf[off];
      if (b === 0) {
        off++;
        continue;
      }
      const id = b >> 4;
      if (id === 15) return;
      const length = (b & 0x0f) + 1;
      if (off + 1 + length > end) return;
      const kind = map.kindOf(id);
      if (kind !== Ext.none) {
        this.extOffset[kind] = off + 1;
        this.extLength[kind] = length;
      }
      off += 1 + length;
    }
  }

  // RFC 8285 §4.3: one byte ID, one byte length (may be 0).
  #parseTwoByte(buf: Uint8Array, off: number, end: number, map: ExtensionMap): void {
    while (off < end) {
      const id = buf[off];
      if (id === 0) {
        off++;
        continue;
      }
      if (off + 2 > end) return;
      const length = buf[off + 1];
      if (off + 2 + length > end) return;
      const kind = map.kindOf(id);
      if (kind !== Ext.none) {
        this.extOffset[kind] = off + 2;
        this.extLength[kind] = length;
      }
      off += 2 + length;
    }
  }

  /** The transport-wide sequence number, or -1. */
  transportSequence(): number {
    const off = this.extOffset[Ext.transportWideCc];
    return off < 0 || this.extLength[Ext.transportWideCc] < 2
      ? -1
      : (this.buf[off] << 8) | this.buf[off + 1];
  }

  /** The rid (or repaired rid) as a string; allocates, so only for SSRC discovery. */
  ridString(kind: typeof Ext.rid | typeof Ext.rrid | typeof Ext.mid = Ext.rid): string | undefined {
    const off = this.extOffset[kind];
    if (off < 0) return undefined;
    return textDecoder.decode(this.buf.subarray(off, off + this.extLength[kind]));
  }

  /** True when the packet carries only padding (libwebrtc's bandwidth probes). */
  isPaddingOnly(): boolean {
    return this.payloadLength === 0;
  }
}
