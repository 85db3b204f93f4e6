import { assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { isPngNotBlank, pngLumaStats } from "../support/browser.ts";

/** Builds a PNG (CRCs zeroed: the decoder does not check them) with one filter type per row. */
async function encodePng(
  width: number,
  rows: Uint8Array[],
  colorType: number,
  filters: number[],
): Promise<Uint8Array> {
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 1;
  const stride = width * channels;
  const raw = new Uint8Array(rows.length * (stride + 1));
  let previous: Uint8Array = new Uint8Array(stride);
  rows.forEach((row, y) => {
    const filter = filters[y % filters.length];
    raw[y * (stride + 1)] = filter;
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? row[i - channels] : 0;
      const up = previous[i];
      const upLeft = i >= channels ? previous[i - channels] : 0;
      const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][filter];
      raw[y * (stride + 1) + 1 + i] = (row[i] - predictor) & 0xff;
    }
    previous = row;
  });
  const zlib = new Uint8Array(
    await new Response(
      new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")),
    ).arrayBuffer(),
  );
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, rows.length);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  // Split the image data over two IDAT chunks: decoders must join them.
  const half = zlib.length >> 1;
  return concat([
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.subarray(0, half)),
    chunk("IDAT", zlib.subarray(half)),
    chunk("IEND", new Uint8Array()),
  ]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

function solidRows(width: number, height: number, rgba: number[]): Uint8Array[] {
  return Array.from({ length: height }, () => {
    const row = new Uint8Array(width * rgba.length);
    for (let x = 0; x < width; x++) row.set(rgba, x * rgba.length);
    return row;
  });
}

function noiseRows(width: number, height: number, channels: number): Uint8Array[] {
  let seed = 12345;
  return Array.from({ length: height }, () =>
    Uint8Array.from({ length: width * channels }, () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >> 23;
    }));
}

Deno.test("png: solid frames are blank whatever the colour and filter", async () => {
  for (
    const [colorType, pixel] of [[6, [0, 0, 0, 255]], [2, [255, 255, 255]], [6, [
      90,
      140,
      30,
      255,
    ]]] as const
  ) {
    for (const filter of [0, 1, 2, 3, 4]) {
      const png = await encodePng(16, solidRows(16, 9, [...pixel]), colorType, [filter]);
      const stats = await pngLumaStats(png);
      assertEquals([stats.width, stats.height], [16, 9]);
      assertAlmostEquals(stats.stdDevLuma, 0, 1e-6);
      assertEquals(await isPngNotBlank(png), false, `colour type ${colorType} filter ${filter}`);
    }
  }
});

Deno.test("png: every filter type round-trips a noisy image exactly", async () => {
  for (const colorType of [0, 2, 6]) {
    const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 1;
    const rows = noiseRows(21, 13, channels);
    // Reference statistics from the raw pixels: unfiltering must reproduce them exactly.
    let sum = 0, sumSquares = 0;
    for (const row of rows) {
      for (let x = 0; x < 21; x++) {
        const i = x * channels;
        const luma = channels === 1
          ? row[i]
          : 0.299 * row[i] + 0.587 * row[i + 1] + 0.114 * row[i + 2];
        sum += luma;
        sumSquares += luma * luma;
      }
    }
    const mean = sum / (21 * 13);
    const png = await encodePng(21, rows, colorType, [0, 1, 2, 3, 4]);
    const stats = await pngLumaStats(png);
    assertAlmostEquals(stats.meanLuma, mean, 1e-9);
    assertAlmostEquals(stats.stdDevLuma, Math.sqrt(sumSquares / (21 * 13) - mean * mean), 1e-6);
    assertEquals(await isPngNotBlank(png), true);
  }
});

Deno.test("png: a mostly flat frame with a small mark is blank only under a high threshold", async () => {
  const rows = solidRows(20, 20, [0, 0, 0]);
  for (let y = 5; y < 10; y++) rows[y].fill(255, 15, 45); // 5×10-pixel white box
  const png = await encodePng(20, rows, 2, [1, 4]);
  assertEquals(await isPngNotBlank(png), true);
  assertEquals(await isPngNotBlank(png, 200), false);
});

Deno.test("png: rejects what it cannot decode", async () => {
  await assertRejects(
    () => pngLumaStats(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])),
    Error,
    "not a PNG",
  );
  const png = await encodePng(4, solidRows(4, 4, [1, 2, 3]), 2, [0]);
  png[8 + 8 + 8] = 16; // IHDR bit depth 16
  await assertRejects(() => pngLumaStats(png), Error, "unsupported");
});
