/**
 * Headless Chromium for browser tests, driven by a minimal Chrome DevTools Protocol client.
 *
 * No npm dependency: Chromium is started with `--remote-debugging-port=0`, prints the browser's
 * WebSocket endpoint on stderr, and every page is a flattened CDP session on that one socket
 * (`Target.attachToTarget({ flatten: true })`, so commands carry a `sessionId`).
 *
 * The flags keep Chromium off the network: no background fetches, updates, sync or QUIC, and a
 * fresh profile per launch. `--allow-loopback-in-peer-connection` lets WebRTC gather and accept
 * 127.0.0.1 candidates, which Chromium otherwise never uses for ICE, so tests need no network
 * namespace.
 *
 * @example const browser = await launchBrowser(); if (!browser) return;
 */

/** Flags every launch gets. Exported so a test can show what it ran. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-domain-reliability",
  "--disable-breakpad",
  "--disable-dev-shm-usage",
  "--metrics-recording-only",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
  "--allow-loopback-in-peer-connection",
  // Host candidates as plain addresses, not mDNS names: no multicast announcements.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--window-size=1280,720",
  "--remote-debugging-address=127.0.0.1",
  "--remote-debugging-port=0",
];

/** Where Chromium is looked for when `$CHROMIUM_PATH` is unset (Debian's `chromium` package). */
export const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";

const LAUNCH_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 30_000;
const EXIT_GRACE_MS = 5_000;

/** A rectangle in CSS pixels of the page's viewport. */
export interface Clip {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One tab. */
export interface Page {
  /** Evaluates `expression` in the page; awaits a returned promise; returns the value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the viewport, or of `clip` when given. */
  screenshot(clip?: Clip): Promise<Uint8Array>;
  /** What the page logged (console and uncaught exceptions), oldest first. */
  readonly console: string[];
  close(): Promise<void>;
}

/** A running Chromium process with a throw-away profile. */
export interface Browser extends AsyncDisposable {
  /** Opens a tab on `url` and resolves once its `load` event fired. */
  newPage(url: string): Promise<Page>;
  /** Ends the process and removes the profile. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@linkcode launchBrowser}. */
export interface LaunchOptions {
  /** Executable; default `$CHROMIUM_PATH`, else {@linkcode DEFAULT_CHROMIUM_PATH}. */
  executablePath?: string;
  /** Extra command-line switches. */
  args?: string[];
}

/**
 * Starts headless Chromium, or returns null (after logging why) when it is not installed, so a
 * test can skip instead of fail.
 */
export async function launchBrowser(options: LaunchOptions = {}): Promise<Browser | null> {
  const path = options.executablePath ?? chromiumPath();
  if (!(await isFile(path))) {
    console.log(`skipping browser test: no Chromium at ${path} (set CHROMIUM_PATH)`);
    return null;
  }
  const profileDir = await Deno.makeTempDir({ prefix: "quetzal-chromium-" });
  const child = new Deno.Command(path, {
    args: [
      ...CHROMIUM_FLAGS,
      ...(options.args ?? []),
      `--user-data-dir=${profileDir}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // No session bus here: an invalid address makes Chromium give up at once instead of retrying.
    env: { DBUS_SESSION_BUS_ADDRESS: "disabled:" },
  }).spawn();
  const stderr = new StderrReader(child.stderr);
  try {
    const endpoint = await stderr.waitForEndpoint(LAUNCH_TIMEOUT_MS);
    const connection = await CdpConnection.open(endpoint);
    return new ChromiumBrowser(child, stderr, connection, profileDir);
  } catch (error) {
    await killAndWait(child);
    await stderr.done;
    await removeDir(profileDir);
    throw new Error(`Chromium did not start: ${error}\n${stderr.tail()}`);
  }
}

/** The Chromium executable tests use: `$CHROMIUM_PATH`, else {@linkcode DEFAULT_CHROMIUM_PATH}. */
export function chromiumPath(): string {
  return Deno.env.get("CHROMIUM_PATH") ?? DEFAULT_CHROMIUM_PATH;
}

/**
 * Why browser tests cannot run here (for `Deno.test({ ignore })`), or null when they can.
 * @example Deno.test({ name: "...", ignore: browserUnavailable() !== null, fn })
 */
export function browserUnavailable(): string | null {
  try {
    if (Deno.statSync(chromiumPath()).isFile) return null;
  } catch {
    // Missing: fall through.
  }
  return `no Chromium at ${chromiumPath()} (install Debian's chromium or set CHROMIUM_PATH)`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Reads Chromium's stderr to the end (so the pipe never fills) and finds the CDP endpoint. */
class StderrReader {
  readonly done: Promise<void>;
  #text = "";
  #onLine: (() => void) | null = null;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      // Keep only the tail: Chromium logs a lot (dbus, GPU) over a long test.
      this.#text = (this.#text + decoder.decode(chunk, { stream: true })).slice(-65_536);
      this.#onLine?.();
    }
    this.#onLine?.();
  }

  tail(): string {
    return this.#text.slice(-2_000);
  }

  waitForEndpoint(timeoutMs: number): Promise<string> {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let finished = false;
    const check = () => {
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(this.#text);
      if (match) finish(() => resolve(match[1]));
    };
    const finish = (settle: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#onLine = null;
      settle();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no DevTools endpoint after ${timeoutMs} ms`))),
      timeoutMs,
    );
    this.#onLine = check;
    this.done.then(() => finish(() => reject(new Error("Chromium exited"))));
    check();
    return promise;
  }
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string; data?: string };
  sessionId?: string;
}

type EventListener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

/** One WebSocket to the browser target; requests are matched to replies by id. */
class CdpConnection {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<
    number,
    { resolve(r: Record<string, unknown>): void; reject(e: Error): void }
  >();
  #listeners = new Map<string, Set<EventListener>>();
  #closed: Promise<void>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.#closed = new Promise((resolve) => socket.addEventListener("close", () => resolve()));
    socket.addEventListener("message", (event) => this.#onMessage(event.data as string));
    this.#closed.then(() => this.#failPending(new Error("DevTools connection closed")));
  }

  static open(url: string): Promise<CdpConnection> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.addEventListener("open", () => resolve(new CdpConnection(socket)), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), {
        once: true,
      });
    });
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    if (this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`${method}: DevTools connection closed`));
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new Error(`${method}: no reply after ${COMMAND_TIMEOUT_MS} ms`));
    }, COMMAND_TIMEOUT_MS);
    this.#pending.set(id, {
      resolve: (result) => {
        clearTimeout(timer);
        resolve(result);
      },
      reject: (error) => {
        clearTimeout(timer);
        reject(error);
      },
    });
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    return promise;
  }

  on(method: string, listener: EventListener): () => void {
    let set = this.#listeners.get(method);
    if (!set) this.#listeners.set(method, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#socket.readyState < WebSocket.CLOSING) this.#socket.close();
    await this.#closed;
  }

  #onMessage(data: string): void {
    const message = JSON.parse(data) as CdpMessage;
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) pending.reject(new Error(`CDP: ${message.error.message}`));
      else pending.resolve(message.result ?? {});
      return;
    }
    if (!message.method) return;
    for (const listener of this.#listeners.get(message.method) ?? []) {
      listener(message.params ?? {}, message.sessionId);
    }
  }

  #failPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

class ChromiumBrowser implements Browser {
  #child: Deno.ChildProcess;
  #stderr: StderrReader;
  #cdp: CdpConnection;
  #profileDir: string;
  #closing: Promise<void> | null = null;

  constructor(
    child: Deno.ChildProcess,
    stderr: StderrReader,
    cdp: CdpConnection,
    profileDir: string,
  ) {
    this.#child = child;
    this.#stderr = stderr;
    this.#cdp = cdp;
    this.#profileDir = profileDir;
  }

  async newPage(url: string): Promise<Page> {
    const { targetId } = await this.#cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#cdp.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new ChromiumPage(this.#cdp, targetId as string, sessionId as string);
    await page.navigate(url);
    return page;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Browser.close lets Chromium end its children; SIGKILL is the fallback.
    await this.#cdp.send("Browser.close").catch(() => {});
    await this.#cdp.close();
    const timer = setTimeout(() => kill(this.#child), EXIT_GRACE_MS);
    await this.#child.status;
    clearTimeout(timer);
    await this.#stderr.done;
    await removeDir(this.#profileDir);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class ChromiumPage implements Page {
  readonly console: string[] = [];
  #cdp: CdpConnection;
  #targetId: string;
  #sessionId: string;
  #unsubscribe: (() => void)[] = [];

  constructor(cdp: CdpConnection, targetId: string, sessionId: string) {
    this.#cdp = cdp;
    this.#targetId = targetId;
    this.#sessionId = sessionId;
    this.#unsubscribe.push(
      cdp.on("Runtime.consoleAPICalled", (params, session) => {
        if (session !== sessionId) return;
        const args = params.args as { value?: unknown; description?: string }[];
        const text = args.map((a) => a.description ?? String(a.value)).join(" ");
        this.console.push(`${params.type}: ${text}`);
      }),
      cdp.on("Runtime.exceptionThrown", (params, session) => {
        if (session !== sessionId) return;
        const details = params.exceptionDetails as { exception?: { description?: string } };
        this.console.push(`exception: ${details.exception?.description}`);
      }),
    );
  }

  async navigate(url: string): Promise<void> {
    await this.#send("Page.enable");
    await this.#send("Runtime.enable");
    const loaded = this.#once("Page.loadEventFired");
    const { errorText } = await this.#send("Page.navigate", { url });
    if (errorText) throw new Error(`cannot open ${url}: ${errorText}`);
    await loaded;
  }

  async evaluate<T>(expression: string): Promise<T> {
    const reply = await this.#send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
      userGesture: true,
    });
    const details = reply.exceptionDetails as
      | { text: string; exception?: { description?: string } }
      | undefined;
    if (details) throw new Error(`in page: ${details.exception?.description ?? details.text}`);
    return (reply.result as { value: T }).value;
  }

  async screenshot(clip?: Clip): Promise<Uint8Array> {
    const params: Record<string, unknown> = { format: "png" };
    if (clip) params.clip = { ...clip, scale: 1 };
    const { data } = await this.#send("Page.captureScreenshot", params);
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#cdp.send("Target.closeTarget", { targetId: this.#targetId }).catch(() => {});
  }

  #send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.#cdp.send(method, params, this.#sessionId);
  }

  #once(method: string): Promise<void> {
    return new Promise((resolve) => {
      const off = this.#cdp.on(method, (_params, session) => {
        if (session !== this.#sessionId) return;
        off();
        resolve();
      });
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
}

async function killAndWait(child: Deno.ChildProcess): Promise<void> {
  kill(child);
  await child.status;
}

async function removeDir(path: string): Promise<void> {
  // Chromium's helpers may still be writing for a moment after the main process exits.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await Deno.remove(path, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      await delay(200);
    }
  }
}

/** Luma statistics of a decoded image. */
export interface ImageStats {
  width: number;
  height: number;
  /** Mean luma, 0–255 (BT.601 weights). */
  meanLuma: number;
  /** Standard deviation of luma over all pixels. */
  stdDevLuma: number;
}

/**
 * Whether a PNG shows something: not one flat colour (black, white or grey frame).
 * The fake camera's test pattern has a stddev far above the threshold; a blank frame has ~0.
 */
export async function isPngNotBlank(png: Uint8Array, minStdDevLuma = 8): Promise<boolean> {
  return (await pngLumaStats(png)).stdDevLuma >= minStdDevLuma;
}

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/**
 * Decodes an 8-bit, non-interlaced greyscale, RGB or RGBA PNG (what Chromium writes) and
 * returns its luma statistics. Filters per RFC 2083 §6; zlib via DecompressionStream("deflate").
 */
export async function pngLumaStats(png: Uint8Array): Promise<ImageStats> {
  const { width, height, channels, idat } = readPngChunks(png);
  const raw = await inflate(idat);
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error("PNG: truncated image data");
  const previous = new Uint8Array(stride);
  const current = new Uint8Array(stride);
  let sum = 0;
  let sumSquares = 0;
  for (let y = 0; y < height; y++) {
    const rowStart = y * (stride + 1);
    unfilterRow(
      raw[rowStart],
      raw.subarray(rowStart + 1, rowStart + 1 + stride),
      previous,
      current,
      channels,
    );
    for (let x = 0; x < width; x++) {
      const i = x * channels;
      const luma = channels < 3
        ? current[i]
        : 0.299 * current[i] + 0.587 * current[i + 1] + 0.114 * current[i + 2];
      sum += luma;
      sumSquares += luma * luma;
    }
    previous.set(current);
  }
  const count = width * height;
  const meanLuma = sum / count;
  const variance = Math.max(0, sumSquares / count - meanLuma * meanLuma);
  return { width, height, meanLuma, stdDevLuma: Math.sqrt(variance) };
}

function readPngChunks(png: Uint8Array) {
  if (PNG_SIGNATURE.some((byte, i) => png[i] !== byte)) throw new Error("not a PNG");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const parts: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let channels = 0;
  for (let offset = 8; offset + 8 <= png.length;) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      const [bitDepth, colorType, , , interlace] = data.subarray(8, 13);
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType] ?? 0;
      if (bitDepth !== 8 || channels === 0 || interlace !== 0) {
        throw new Error(`PNG: unsupported depth ${bitDepth}, colour type ${colorType}`);
      }
    } else if (type === "IDAT") {
      parts.push(data);
    } else if (type === "IEND") {
      break;
    }
    offset += 12 + length; // length, type, data, CRC
  }
  if (channels === 0 || parts.length === 0) throw new Error("PNG: no IHDR or IDAT");
  const idat = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (idat.set(p, at), at + p.length), 0);
  return { width, height, channels, idat };
}

async function inflate(zlib: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([zlib as BlobPart]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Undoes one scanline's filter (RFC 2083 §6.2–6.6) into `out`, given the previous raw row. */
function unfilterRow(
  filter: number,
  row: Uint8Array,
  previous: Uint8Array,
  out: Uint8Array,
  bytesPerPixel: number,
): void {
  for (let i = 0; i < row.length; i++) {
    const left = i >= bytesPerPixel ? out[i - bytesPerPixel] : 0;
    const up = previous[i];
    const upLeft = i >= bytesPerPixel ? previous[i - bytesPerPixel] : 0;
    let predictor: number;
    switch (filter) {
      case 0:
        predictor = 0;
        break;
      case 1:
        predictor = left;
        break;
      case 2:
        predictor = up;
        break;
      case 3:
        predictor = (left + up) >> 1;
        break;
      case 4:
        predictor = paeth(left, up, upLeft);
        break;
      default:
        throw new Error(`PNG: bad filter type ${filter}`);
    }
    out[i] = (row[i] + predictor) & 0xff;
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}
