/**
 * Runs Quetzal the way its users do, as a child process: `deno task start` (the README's
 * command, with `Deno.execPath()` for `npx -y deno@…`) with flags and `QUETZAL_*` variables.
 * `serveAndStop` waits for the start banner, reads the bound port from it, asks /healthz on
 * 127.0.0.1, then sends SIGTERM and awaits the exit; `runToExit` is for starts that must fail.
 * Every pipe and process is awaited, so the resource sanitizer sees them closed.
 */

/** The repository root: where `deno task start` finds deno.json. */
export const ROOT = new URL("../../", import.meta.url);

/** `deno task start` with this Deno; flags follow it. */
export const START_COMMAND: readonly string[] = [Deno.execPath(), "task", "start"];

/**
 * The OBS lines of the banner name the bound port (`--port 0` binds any free one). The address
 * in them may be a host address, which no test may contact: only the port is read.
 */
const BANNER = /Server:\s+(https?):\/\/\S+:(\d+)\/whip\//;

/** A bound on waiting for the banner, so a hung start fails instead of hanging the suite. */
const START_BOUND_MS = 60_000;

/** After SIGTERM, a bound on the drain before SIGKILL (the default grace period is 5 s). */
const STOP_BOUND_MS = 30_000;

export interface ChildOutput {
  status: Deno.CommandStatus;
  stdout: string;
  stderr: string;
}

export interface Served extends ChildOutput {
  /** The port the banner named. */
  port: number;
  /** The /healthz body. */
  health: string;
}

/**
 * The environment a child gets: this process's (PATH, HOME and DENO_DIR, so the module cache is
 * shared and nothing is downloaded), minus any QUETZAL_* setting of the caller's shell, plus `env`.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("QUETZAL_")),
  );
  return { ...base, NO_COLOR: "1", ...env };
}

/** Options of one start: `command` defaults to START_COMMAND; `args` follow it. */
export interface StartOptions {
  command?: readonly string[];
  args?: readonly string[];
  env?: Record<string, string>;
  /** Runs once /healthz answered, before the stop (e.g. another probe of the running server). */
  whileServing?: (port: number) => Promise<void>;
  /**
   * Certificates to trust when the banner names https (read once the server serves: a
   * self-signed one exists only after the start).
   */
  caCerts?: () => Promise<string[]>;
}

function spawn(options: StartOptions) {
  const [program, ...rest] = options.command ?? START_COMMAND;
  const child = new Deno.Command(program, {
    args: [...rest, ...(options.args ?? [])],
    cwd: decodeURIComponent(ROOT.pathname),
    env: childEnv(options.env ?? {}),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const banner = Promise.withResolvers<number | undefined>();
  let secure = false;
  const outDone = readText(child.stdout, (text) => {
    stdout += text;
    const match = BANNER.exec(stdout);
    if (match) {
      secure = match[1] === "https";
      banner.resolve(Number(match[2]));
    }
  });
  const errDone = readText(child.stderr, (text) => stderr += text);
  let exited = false;
  const done = (async (): Promise<ChildOutput> => {
    const status = await child.status;
    exited = true;
    await Promise.all([outDone, errDone]);
    banner.resolve(undefined);
    return { status, stdout, stderr };
  })();
  const kill = (signal: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch {
      // It exited between the check and the signal.
    }
  };
  return {
    banner: banner.promise,
    done,
    kill,
    secure: () => secure,
    output: () => describeOutput(stdout, stderr),
  };
}

/**
 * Starts, waits for the banner, checks /healthz on 127.0.0.1 and the bound port, then stops
 * with SIGTERM (what `docker stop` sends) and returns once the process and its pipes are done.
 * Throws with the child's output when it exits early, never prints the banner, or /healthz
 * does not answer 200.
 */
export async function serveAndStop(options: StartOptions): Promise<Served> {
  const child = spawn(options);
  let port: number | undefined;
  let health: string | undefined;
  let failure: string | undefined;
  try {
    port = await within(child.banner, START_BOUND_MS);
    if (port === undefined) failure = "exited before printing the start banner";
    else {
      const caCerts = child.secure() ? await (options.caCerts?.() ?? []) : undefined;
      health = await probeHealth(port, 50, caCerts);
      await options.whileServing?.(port);
    }
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  child.kill("SIGTERM");
  const late = setTimeout(() => child.kill("SIGKILL"), STOP_BOUND_MS);
  const result = await child.done;
  clearTimeout(late);
  if (failure !== undefined || port === undefined || health === undefined) {
    throw new Error(`${failure}\n${describeOutput(result.stdout, result.stderr)}`);
  }
  return { ...result, port, health };
}

/** Runs a start that should fail on its own; stops it (and throws) if it serves or hangs. */
export async function runToExit(options: StartOptions): Promise<ChildOutput> {
  const child = spawn(options);
  const outcome = await within(child.banner, START_BOUND_MS).catch(() => "hung" as const);
  if (outcome !== undefined) child.kill("SIGTERM");
  const late = setTimeout(() => child.kill("SIGKILL"), STOP_BOUND_MS);
  const result = await child.done;
  clearTimeout(late);
  if (outcome === "hung") throw new Error(`neither exited nor served\n${child.output()}`);
  if (outcome !== undefined) throw new Error(`served on port ${outcome}\n${child.output()}`);
  return result;
}

/**
 * GET /healthz on 127.0.0.1 until it answers 200, a bounded number of times; over https
 * trusting only `caCerts` when given.
 */
export async function probeHealth(port: number, tries = 50, caCerts?: string[]): Promise<string> {
  let last = "";
  using client = caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
  const url = `${caCerts ? "https" : "http"}://127.0.0.1:${port}/healthz`;
  for (let i = 0; i < tries; i++) {
    try {
      const response = await fetch(url, client ? { client } : {});
      const body = await response.text();
      if (response.ok) return body;
      last = `${response.status} ${body}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/healthz on port ${port} did not answer 200 in ${tries} tries: ${last}`);
}

/** A port that was free a moment ago (bound on 127.0.0.1 by the OS, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the order of the results. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function readText(stream: ReadableStream<Uint8Array>, onText: (text: string) => void) {
  for await (const text of stream.pipeThrough(new TextDecoderStream())) onText(text);
}

function describeOutput(stdout: string, stderr: string): string {
  const tail = (s: string) => s.length > 3000 ? "…" + s.slice(-3000) : s;
  return `stdout:\n${tail(stdout)}\nstderr:\n${tail(stderr)}`;
}
