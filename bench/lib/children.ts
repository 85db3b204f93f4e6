/**
 * Child processes of the bench: started with `Deno.execPath()`, driven by JSON lines, and all
 * killed when the bench ends, fails or is interrupted (SIGINT/SIGTERM).
 */
import { type Command, LineSplitter } from "./child-protocol.ts";

const live = new Set<BenchChild>();
let signalsInstalled = false;

/** Other processes the bench started (not Deno children), each with its kill function. */
const others = new Set<() => void>();

/** Kills every child still running (SIGKILL: a wedged child must not outlive the bench). */
export function killAllChildren(): void {
  for (const child of [...live]) child.kill();
  for (const kill of [...others]) kill();
}

/**
 * Has `kill` called with the Deno children's (on SIGINT/SIGTERM and unload once
 * `installSignalHandlers` ran, and at the bench's end); returns the function that forgets it
 * once the process has exited.
 */
export function trackProcess(kill: () => void): () => void {
  others.add(kill);
  return () => others.delete(kill);
}

/** Kills every child on SIGINT/SIGTERM and at unload (the bench calls it first thing). */
export function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killAllChildren();
      console.error(`\nbench: ${signal}, child processes stopped`);
      Deno.exit(130);
    });
  }
  globalThis.addEventListener("unload", killAllChildren);
}

export interface SpawnOptions {
  /** Extra V8 flags, e.g. ["--expose-gc"]. */
  v8Flags?: string[];
  /** Extra `deno run` flags, e.g. ["--unstable-net"]. */
  denoFlags?: string[];
  /** Echo the child's stderr (default: only when it exits badly, the last lines). */
  verbose?: boolean;
}

/** One child Deno process speaking the JSON-lines protocol of child-protocol.ts. */
export class BenchChild {
  readonly name: string;
  readonly pid: number;
  readonly #process: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (reply: Record<string, unknown>) => void>();
  readonly #waiters: Array<(m: Record<string, unknown>) => boolean> = [];
  readonly #stderrTail: string[] = [];
  #nextId = 1;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, script: string, args: string[], options: SpawnOptions = {}) {
    installSignalHandlers();
    this.name = name;
    const flags = options.v8Flags?.length ? [`--v8-flags=${options.v8Flags.join(",")}`] : [];
    this.#process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", ...(options.denoFlags ?? []), ...flags, script, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#process.pid;
    this.#writer = this.#process.stdin.getWriter();
    live.add(this);
    this.status = this.#process.status.then((s) => {
      this.#exited = true;
      live.delete(this);
      for (const resolve of this.#pending.values()) resolve({ error: `${name} exited` });
      this.#pending.clear();
      return s;
    });
    void this.#readStdout();
    void this.#readStderr(options.verbose === true);
  }

  async #readStdout(): Promise<void> {
    const lines = this.#process.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new LineSplitter(),
    );
    for await (const line of lines) {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line);
      } catch {
        continue;
      }
      const id = message.id;
      if (typeof id === "number" && this.#pending.has(id)) {
        this.#pending.get(id)!(message);
        this.#pending.delete(id);
        continue;
      }
      for (let i = 0; i < this.#waiters.length; i++) {
        if (this.#waiters[i](message)) this.#waiters.splice(i--, 1);
      }
    }
  }

  async #readStderr(verbose: boolean): Promise<void> {
    const lines = this.#process.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(
      new LineSplitter(),
    );
    for await (const line of lines) {
      if (verbose) console.error(`[${this.name}] ${line}`);
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > 20) this.#stderrTail.shift();
    }
  }

  /** The last lines the child wrote on stderr (for error messages). */
  get stderrTail(): string {
    return this.#stderrTail.join("\n");
  }

  /** Waits for an unsolicited message matching `match` (e.g. the server's URL announcement). */
  waitFor(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no announcement in ${timeoutMs} ms\n${this.stderrTail}`));
      }, timeoutMs);
      this.#waiters.push((m) => {
        if (!match(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      });
      void this.status.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited\n${this.stderrTail}`));
      });
    });
  }

  /** Sends a command and waits for its reply; throws on `{ error }` replies. */
  async request(
    cmd: string,
    params: Record<string, unknown> = {},
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    if (this.#exited) throw new Error(`${this.name} has exited\n${this.stderrTail}`);
    const id = this.#nextId++;
    const command: Command = { id, cmd, ...params };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, resolve);
      timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: "${cmd}" timed out\n${this.stderrTail}`));
      }, timeoutMs);
    });
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    try {
      const r = await reply;
      if (typeof r.error === "string") {
        throw new Error(`${this.name}: ${r.error}\n${this.stderrTail}`);
      }
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes stdin (the child exits on its own) and waits up to `graceMs`, then kills it. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#exited) return;
    try {
      await this.#writer.close();
    } catch {
      // Already closed.
    }
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.status;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exited) return;
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
