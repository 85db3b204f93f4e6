/** Test helper: MSB-first bit writer with Exp-Golomb codes and emulation prevention. */
export class BitWriter {
  readonly bits: number[] = [];

  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }

  ue(v: number): this {
    const len = Math.floor(Math.log2(v + 1));
    this.u(len, 0);
    return this.u(len + 1, v + 1);
  }

  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** The bits with rbsp_trailing_bits (a 1, then zeros to a byte boundary). */
  rbsp(): Uint8Array {
    const bits = [...this.bits, 1];
    while (bits.length % 8 !== 0) bits.push(0);
    return this.#pack(bits);
  }

  /** The bits zero-padded to a byte boundary, without a stop bit. */
  bytes(): Uint8Array {
    const bits = [...this.bits];
    while (bits.length % 8 !== 0) bits.push(0);
    return this.#pack(bits);
  }

  #pack(bits: number[]): Uint8Array {
    const out = new Uint8Array(bits.length / 8);
    bits.forEach((b, i) => (out[i >> 3] |= b << (7 - (i & 7))));
    return out;
  }
}

/** Inserts emulation-prevention bytes (H.264 §7.4.1): 00 00 0x (x ≤ 3) → 00 00 03 0x. */
export function escape(rbsp: Uint8Array): { bytes: Uint8Array; inserted: number } {
  const out: number[] = [];
  let zeros = 0;
  let inserted = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      inserted++;
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return { bytes: new Uint8Array(out), inserted };
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
