/**
 * The Go/Pion bench tools of bench/peers (one binary, `quetzal-peers load|sfu`): built from
 * Debian's Go packages when `go` is present, then run as processes that print JSON lines.
 *
 * Built once per source version into the user's cache directory (the sources' hash names the
 * binary), so a rerun starts at once; the first build takes ~20 s on 2 cores.
 */
import { LineSplitter } from "./child-protocol.ts";
import { trackProcess } from "./children.ts";

const PEERS_DIR = new URL("../peers/", import.meta.url);

export type PeersBuild = { ok: true; binary: string } | { ok: false; reason: string };

let built: Promise<PeersBuild> | undefined;

/** Builds (or finds) the binary; a reason instead when Go or Pion's sources are missing. */
export function buildPeers(): Promise<PeersBuild> {
  built ??= build();
  return built;
}

async function build(): Promise<PeersBuild> {
  try {
    const version = await new Deno.Command("go", { args: ["version"], stdout: "null" }).output();
    if (!version.success) return { ok: false, reason: "`go version` failed" };
  } catch {
    return {
      ok: false,
      reason: "no Go toolchain (Debian: golang-go and golang-github-pion-webrtc.v3-dev)",
    };
  }
  const gocode = Deno.env.get("GOCODE") ?? "/usr/share/gocode";
  try {
    Deno.statSync(`${gocode}/src/github.com/pion/webrtc`);
  } catch {
    return {
      ok: false,
      reason: `no Pion sources under ${gocode} (Debian: golang-github-pion-webrtc.v3-dev)`,
    };
  }
  const sources = [...Deno.readDirSync(PEERS_DIR)]
    .filter((e) => e.isFile && (e.name.endsWith(".go") || e.name === "build.sh"))
    .map((e) => e.name)
    .sort();
  const hash = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(
        sources.map((name) => name + Deno.readTextFileSync(new URL(name, PEERS_DIR))).join("\0"),
      ),
    ),
  );
  const tag = [...hash.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const cache = `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`}` +
    "/quetzal-bench";
  const binary = `${cache}/quetzal-peers-${tag}`;
  try {
    Deno.statSync(binary);
    return { ok: true, binary };
  } catch {
    // not built yet
  }
  Deno.mkdirSync(cache, { recursive: true });
  const out = await new Deno.Command("sh", {
    args: [new URL("build.sh", PEERS_DIR).pathname, `${binary}.tmp`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" | ");
    return { ok: false, reason: `building bench/peers failed: ${stderr}` };
  }
  Deno.renameSync(`${binary}.tmp`, binary);
  return { ok: true, binary };
}

/** A process that prints JSON objects one per line on stdout (stderr kept for diagnostics). */
export class JsonLinesProcess {
  readonly name: string;
  readonly pid: number;
  readonly #process: Deno.ChildProcess;
  readonly #messages: Record<string, unknown>[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #stderrTail: string[] = [];
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, command: string, args: string[], env?: Record<string, string>) {
    this.name = name;
    this.#process = new Deno.Command(command, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#process.pid;
    const untrack = trackProcess(() => this.kill());
    this.status = this.#process.status.then((s) => {
      this.#exited = true;
      untrack();
      this.#wake();
      return s;
    });
    void this.#read(this.#process.stdout, (line) => {
      try {
        this.#messages.push(JSON.parse(line));
        this.#wake();
      } catch {
        // not a JSON line: a server's banner
      }
    });
    void this.#read(this.#process.stderr, (line) => {
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > 30) this.#stderrTail.shift();
    });
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(new LineSplitter());
    for await (const line of lines) if (line.trim()) onLine(line);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The first message (in order, consumed) for which `match` holds; rejects on exit/timeout. */
  async next(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const i = this.#messages.findIndex(match);
      if (i >= 0) return this.#messages.splice(i, 1)[0];
      if (this.#exited) {
        throw new Error(`${this.name} exited: ${this.#stderrTail.slice(-8).join(" | ")}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${this.name}: timed out: ${this.#stderrTail.slice(-8).join(" | ")}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  get stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  kill(): void {
    if (this.#exited) return;
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.#exited) {
      try {
        this.#process.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => this.kill(), graceMs);
      await this.status;
      clearTimeout(timer);
    }
    await this.status;
  }
}
