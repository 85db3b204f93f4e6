/**
 * MSB-first bit reader for parameter sets: H.264/H.265 RBSP (with emulation-prevention bytes
 * removed on the fly, H.264 §7.4.1) and AV1 OBUs. Reading past the end yields zeros and sets
 * `overrun`, so parsers run straight through and check once at the end.
 *
 * Only used on packets that carry a parameter set (key frames), so it favours clarity: one bit
 * at a time. Reuse one instance; nothing allocates after construction.
 *
 * @module
 */

/**
 * Reads bits, Exp-Golomb codes and AV1 uvlc codes from `buf[off..off+len)`.
 *
 * @example const r = new BitReader(); r.reset(sps, 1, sps.length - 1, true); r.readBits(8)
 */
export class BitReader {
  /** True once a read went past the end. */
  overrun: boolean;

  #buf: Uint8Array;
  #pos: number;
  #end: number;
  #bit: number;
  #zeros: number;
  #unescape: boolean;

  constructor() {
    this.overrun = false;
    this.#buf = new Uint8Array(0);
    this.#pos = 0;
    this.#end = 0;
    this.#bit = 0;
    this.#zeros = 0;
    this.#unescape = false;
  }

  /**
   * Starts reading `buf[off..off+len)`. With `unescape`, a 0x03 after two zero bytes is an
   * emulation-prevention byte and is skipped (H.264 §7.4.1, H.265 §7.4.2).
   */
  reset(buf: Uint8Array, off: number, len: number, unescape: boolean): void {
    this.overrun = false;
    this.#buf = buf;
    this.#pos = off;
    this.#end = off + len < buf.length ? off + len : buf.length;
    this.#bit = 0;
    this.#zeros = 0;
    this.#unescape = unescape;
  }

  /** One bit. */
  readBit(): number {
    if (this.#pos >= this.#end) {
      this.overrun = true;
      return 0;
    }
    const byte = this.#buf[this.#pos];
    const v = (byte >> (7 - this.#bit)) & 1;
    if (++this.#bit === 8) {
      this.#bit = 0;
      this.#pos++;
      this.#zeros = byte === 0 ? this.#zeros + 1 : 0;
      if (
        this.#unescape && this.#zeros >= 2 && this.#pos < this.#end && this.#buf[this.#pos] === 3
      ) {
        this.#pos++;
        this.#zeros = 0;
      }
    }
    return v;
  }

  /** `n` bits (0..32) as an unsigned number. */
  readBits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.readBit();
    return v;
  }

  /** Skips `n` bits. */
  skipBits(n: number): void {
    for (let i = 0; i < n && !this.overrun; i++) this.readBit();
  }

  /** Unsigned Exp-Golomb ue(v) (H.264 §9.1); the same code as AV1's uvlc(). */
  readUe(): number {
    let zeros = 0;
    while (this.readBit() === 0) {
      if (this.overrun || ++zeros > 31) {
        this.overrun = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.readBits(zeros);
  }

  /** Signed Exp-Golomb se(v) (H.264 §9.1.1). */
  readSe(): number {
    const k = this.readUe();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}
