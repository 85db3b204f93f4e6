/**
 * HMAC-SHA1 (RFC 2104, FIPS 180-4) for SRTP authentication, in TypeScript with the inner and
 * outer pad states computed once per key, so a packet costs only its own compression calls.
 *
 * Why not node:crypto: on Deno 2.9.6 `createHmac("sha1")+update+digest` per packet measured
 * 7.4 µs for 1194 bytes; this class measured 4.0 µs (2026-11-23, 2-core AMD EPYC, Deno 2.9.6).
 * A variant with an on-the-fly 16-word schedule and one reading via DataView were within 5%.
 *
 * Hot path: no allocation; all scratch is preallocated in the constructor.
 *
 * @module
 */

/** HMAC-SHA1 with a fixed key. */
export class HmacSha1 {
  /** The last digest computed by {@link mac} (20 bytes). */
  readonly digest = new Uint8Array(20);
  readonly #innerState = new Int32Array(5);
  readonly #outerState = new Int32Array(5);
  readonly #state = new Int32Array(5);
  readonly #schedule = new Int32Array(80);
  /** The message tail: at most 63 bytes + 4 suffix bytes + padding and length = two blocks. */
  readonly #tail = new Uint8Array(128);

  constructor(key: Uint8Array) {
    if (key.length > 64) throw new Error("HMAC-SHA1 keys longer than a block are not supported");
    const pad = new Uint8Array(64);
    for (let i = 0; i < 64; i++) pad[i] = (i < key.length ? key[i] : 0) ^ 0x36;
    initSha1(this.#innerState);
    this.#compress(this.#innerState, pad, 0);
    for (let i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    initSha1(this.#outerState);
    this.#compress(this.#outerState, pad, 0);
  }

  /**
   * Computes HMAC(key, buf[off..off+len) || suffix) into {@link digest}; the optional 4-byte
   * big-endian suffix is how SRTP appends the ROC (RFC 3711 §4.2).
   */
  mac(buf: Uint8Array, off: number, len: number, suffix: number, withSuffix: boolean): void {
    const st = this.#state;
    st.set(this.#innerState);
    const end = off + len;
    let p = off;
    while (end - p >= 64) {
      this.#compress(st, buf, p);
      p += 64;
    }
    const t = this.#tail;
    let n = 0;
    while (p < end) t[n++] = buf[p++];
    let messageLength = len + 64; // the ipad block counts
    if (withSuffix) {
      t[n++] = suffix >>> 24;
      t[n++] = suffix >>> 16;
      t[n++] = suffix >>> 8;
      t[n++] = suffix;
      messageLength += 4;
    }
    t[n++] = 0x80;
    const tailLength = n + 8 > 64 ? 128 : 64;
    while (n < tailLength - 4) t[n++] = 0;
    const bits = messageLength * 8; // < 2^32 for any UDP payload
    t[n++] = bits >>> 24;
    t[n++] = bits >>> 16;
    t[n++] = bits >>> 8;
    t[n++] = bits;
    this.#compress(st, t, 0);
    if (tailLength === 128) this.#compress(st, t, 64);
    // Outer hash: one block holding the 20-byte inner digest; 84 bytes in total with opad.
    for (let i = 0; i < 5; i++) {
      const v = st[i];
      const j = i * 4;
      t[j] = v >>> 24;
      t[j + 1] = v >>> 16;
      t[j + 2] = v >>> 8;
      t[j + 3] = v;
    }
    t[20] = 0x80;
    for (let i = 21; i < 62; i++) t[i] = 0;
    t[62] = (84 * 8) >>> 8;
    t[63] = (84 * 8) & 0xff;
    st.set(this.#outerState);
    this.#compress(st, t, 0);
    const d = this.digest;
    for (let i = 0; i < 20; i++) d[i] = st[i >> 2] >>> (24 - 8 * (i & 3));
  }

  #compress(h: Int32Array, b: Uint8Array, o: number): void {
    const w = this.#schedule;
    for (let i = 0; i < 16; i++, o += 4) {
      w[i] = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    let i = 0;
    for (; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + w[i] + 0x5a827999) | 0;
      e = d, d = c, c = (bb << 30) | (bb >>> 2), bb = a, a = t;
    }
    for (; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + w[i] + 0x6ed9eba1) | 0;
      e = d, d = c, c = (bb << 30) | (bb >>> 2), bb = a, a = t;
    }
    for (; i < 60; i++) {
      const t =
        (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + w[i] - 0x70e44324) |
        0;
      e = d, d = c, c = (bb << 30) | (bb >>> 2), bb = a, a = t;
    }
    for (; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + w[i] - 0x359d3e2a) | 0;
      e = d, d = c, c = (bb << 30) | (bb >>> 2), bb = a, a = t;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + bb) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
  }
}

function initSha1(h: Int32Array): void {
  h[0] = 0x67452301;
  h[1] = 0xefcdab89 | 0;
  h[2] = 0x98badcfe | 0;
  h[3] = 0x10325476;
  h[4] = 0xc3d2e1f0 | 0;
}
