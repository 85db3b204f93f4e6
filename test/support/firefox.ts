/**
 * Headless Firefox (Debian's firefox-esr) for tests, driven over WebDriver BiDi, the protocol
 * Firefox speaks on `--remote-debugging-port` (it no longer speaks CDP). It gives the same
 * `Browser` and `Page` as the Chromium launcher (browser.ts), so a test can put both browsers
 * in one call. No npm dependency: one WebSocket, four commands (`session.new`,
 * `browsingContext.create` / `navigate` / `close`, `script.evaluate`) and one event
 * (`log.entryAdded`).
 *
 * The profile makes a test browser of it: the fake camera and microphone without a permission
 * prompt, sound without a gesture, no mDNS names for host candidates, and nothing fetched from
 * the network. Firefox gathers no loopback candidates (its `media.peerconnection.ice.loopback`
 * had no effect here), so a Firefox test runs in a network namespace with a non-loopback
 * address (scripts/netns.sh), as users' machines have.
 */
import type { Browser, Clip, Page } from "./browser.ts";

export const DEFAULT_FIREFOX_PATH = "/usr/bin/firefox-esr";
const LAUNCH_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 60_000;

const PREFS: Record<string, string | number | boolean> = {
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "media.peerconnection.ice.default_address_only": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.homepage_override.mstone": "ignore",
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.reportingpolicy.firstRun": false,
  "app.update.disabledForTesting": true,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.safebrowsing.update.enabled": false,
  "extensions.update.enabled": false,
  "remote.prefs.recommended": true,
};

/** The Firefox executable tests use: `$FIREFOX_PATH`, else {@linkcode DEFAULT_FIREFOX_PATH}. */
export function firefoxPath(): string {
  return Deno.env.get("FIREFOX_PATH") ?? DEFAULT_FIREFOX_PATH;
}

/** Why Firefox tests skip here, or null when Firefox is installed. */
export function firefoxUnavailable(): string | null {
  try {
    if (Deno.statSync(firefoxPath()).isFile) return null;
  } catch {
    // Missing: fall through.
  }
  return `no Firefox at ${firefoxPath()} (install Debian's firefox-esr or set FIREFOX_PATH)`;
}

/** Starts headless Firefox with a throw-away profile. */
export async function launchFirefox(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "quetzal-firefox-" });
  await Deno.writeTextFile(
    `${profile}/user.js`,
    Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`)
      .join("\n"),
  );
  const child = new Deno.Command(firefoxPath(), {
    args: ["--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { MOZ_CRASHREPORTER_DISABLE: "1", DBUS_SESSION_BUS_ADDRESS: "disabled:" },
  }).spawn();
  const stderr = new LineTail(child.stderr);
  try {
    const line = await stderr.waitFor(
      /WebDriver BiDi listening on (ws:\/\/\S+)/,
      LAUNCH_TIMEOUT_MS,
    );
    const bidi = await BiDi.open(`${line[1]}/session`);
    await bidi.send("session.new", {
      capabilities: { alwaysMatch: { acceptInsecureCerts: true } },
    });
    await bidi.send("session.subscribe", { events: ["log.entryAdded"] });
    return new FirefoxBrowser(child, stderr, bidi, profile);
  } catch (error) {
    await stop(child);
    await stderr.done;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw new Error(`Firefox did not start: ${error}\n${stderr.tail()}`);
  }
}

class FirefoxBrowser implements Browser {
  #closed = false;
  constructor(
    readonly child: Deno.ChildProcess,
    readonly stderr: LineTail,
    readonly bidi: BiDi,
    readonly profile: string,
  ) {}

  async newPage(url: string): Promise<Page> {
    const created = await this.bidi.send("browsingContext.create", { type: "tab" });
    const context = field(created, "context");
    if (typeof context !== "string") throw new Error("browsingContext.create: no context");
    const page = new FirefoxPage(this.bidi, context);
    await this.bidi.send("browsingContext.navigate", { context, url, wait: "complete" });
    return page;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.bidi.send("browser.close", {}).catch(() => {});
    this.bidi.close();
    await stop(this.child);
    await this.stderr.done;
    await Deno.remove(this.profile, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class FirefoxPage implements Page {
  readonly console: string[] = [];
  constructor(readonly bidi: BiDi, readonly context: string) {
    bidi.onLog(context, (text) => this.console.push(text));
  }

  async evaluate<T>(expression: string): Promise<T> {
    // The value crosses as a JSON string: BiDi's own serialisation is typed (RemoteValue).
    const answer = await this.bidi.send("script.evaluate", {
      expression: `(async () => JSON.stringify(await (${expression})) ?? "null")()`,
      target: { context: this.context },
      awaitPromise: true,
    });
    if (field(answer, "type") === "exception") {
      const text = field(field(answer, "exceptionDetails"), "text");
      throw new Error(`evaluate failed: ${text ?? "exception"}`);
    }
    const value = field(field(answer, "result"), "value");
    if (typeof value !== "string") throw new Error(`evaluate: no JSON result`);
    return JSON.parse(value);
  }

  screenshot(_clip?: Clip): Promise<Uint8Array> {
    return Promise.reject(new Error("screenshots are not implemented for Firefox"));
  }

  async close(): Promise<void> {
    await this.bidi.send("browsingContext.close", { context: this.context }).catch(() => {});
  }
}

/** `value[key]` of a JSON object, undefined for anything else. */
function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && key in value
    ? Object.getOwnPropertyDescriptor(value, key)?.value
    : undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One WebDriver BiDi connection: commands matched to results by id, log events by context. */
class BiDi {
  #next = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #logs = new Map<string, (text: string) => void>();
  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => this.#receive(String(event.data));
    socket.onclose = () => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error("the BiDi connection closed"));
      }
      this.#pending.clear();
    };
  }

  static open(url: string): Promise<BiDi> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new BiDi(socket));
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
  }

  send(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer in ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  onLog(context: string, handler: (text: string) => void): void {
    this.#logs.set(context, handler);
  }

  close(): void {
    this.socket.close();
  }

  #receive(data: string): void {
    const message = JSON.parse(data);
    if (typeof message.id === "number") {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.type === "error") {
        pending.reject(new Error(`${message.error}: ${message.message}`));
      } else pending.resolve(message.result);
      return;
    }
    if (message.method === "log.entryAdded") {
      const entry = message.params;
      this.#logs.get(entry?.source?.context)?.(`${entry.level}: ${entry.text}`);
    }
  }
}

/** Reads a child's stderr to the end, keeping the last lines and finding a pattern. */
class LineTail {
  readonly #lines: string[] = [];
  readonly #waiters: { pattern: RegExp; resolve(m: RegExpMatchArray): void }[] = [];
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) this.#line(line);
      }
      if (rest) this.#line(rest);
    })().catch(() => {});
  }

  #line(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > 50) this.#lines.shift();
    for (const waiter of [...this.#waiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  }

  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.#lines) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (m: RegExpMatchArray) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no ${pattern} on stderr in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  tail(): string {
    return this.#lines.slice(-20).join("\n");
  }
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // exited already
  }
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), 5000)),
  ]);
  if (!exited) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
    await child.status;
  }
}
