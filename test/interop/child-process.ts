/**
 * Runs the interop clients (the Python scripts beside this file) as child
 * processes: their stdout is read as one JSON event a line, stderr is kept for failure
 * messages, and `stop()` ends them and awaits their status so the resource sanitizer sees
 * every pipe and process closed.
 */

/** One line a client printed: `{"event": "connected"}`, `{"event": "decoded", "video": 31}`… */
export interface ClientEvent {
  event: string;
  [field: string]: unknown;
}

export interface ClientProcess {
  /** Events in the order they were printed. */
  readonly events: ClientEvent[];
  /** stderr so far (the clients' own logs, GStreamer warnings, Python tracebacks). */
  stderr(): string;
  /** Resolves with the first `event` (waiting for it); rejects on an error event or exit. */
  waitFor(event: string, timeoutMs?: number): Promise<ClientEvent>;
  /** Asks the client to stop (a "stop" line on stdin), awaits its exit; kills it if late. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Starts `command`; stdin stays open until `stop()` so the client can be told to stop. */
export function spawnClient(command: string, args: string[]): ClientProcess {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONUNBUFFERED: "1" },
  }).spawn();
  const events: ClientEvent[] = [];
  let errorText = "";
  let exited = false;
  const stdoutDone = readLines(child.stdout, (line) => {
    try {
      events.push(JSON.parse(line) as ClientEvent);
    } catch {
      errorText += line + "\n";
    }
  });
  const stderrDone = readLines(child.stderr, (line) => errorText += line + "\n");
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stdin = child.stdin.getWriter();
  let stopped: Promise<Deno.CommandStatus> | undefined;

  const describe = () => {
    const tail = errorText.length > 4000 ? "…" + errorText.slice(-4000) : errorText;
    return `events: ${JSON.stringify(events.filter((e) => !("sdp" in e)))}\nstderr:\n${tail}`;
  };

  return {
    events,
    stderr: () => errorText,
    async waitFor(event: string, timeoutMs = 15_000): Promise<ClientEvent> {
      const start = Date.now();
      for (;;) {
        const found = events.find((e) => e.event === event);
        if (found) return found;
        const error = events.find((e) => e.event === "error");
        if (error) throw new Error(`${command} reported an error before "${event}"\n${describe()}`);
        if (exited) throw new Error(`${command} exited before "${event}"\n${describe()}`);
        if (Date.now() - start > timeoutMs) {
          throw new Error(`timed out waiting for "${event}" from ${command}\n${describe()}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop(graceMs = 8_000) {
      stopped ??= (async () => {
        await stdin.write(new TextEncoder().encode("stop\n")).catch(() => {});
        await stdin.close().catch(() => {});
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        });
        const first = await Promise.race([status, late]);
        clearTimeout(timer);
        if (!first && !exited) child.kill("SIGKILL");
        const result = await status;
        await Promise.all([stdoutDone, stderrDone]);
        return result;
      })();
      return stopped;
    },
  };
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  if (pending) onLine(pending);
}

/** True when `command args…` runs and exits 0 (a missing command is false, not an error). */
export async function runsOk(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * The first Python that imports `modules`: `QUETZAL_INTEROP_PYTHON`, then `python3` on PATH,
 * then the system one (Debian's python3-aiortc and python3-gi install there, and a pyenv or
 * venv `python3` on PATH may lack them).
 */
export async function findPython(modules: string): Promise<string | undefined> {
  const candidates = [Deno.env.get("QUETZAL_INTEROP_PYTHON"), "python3", "/usr/bin/python3"];
  for (const candidate of candidates) {
    if (candidate && await runsOk(candidate, ["-c", modules])) return candidate;
  }
  return undefined;
}

/** A script beside this file, as a path a child process can open. */
export function scriptPath(name: string): string {
  return new URL(name, import.meta.url).pathname;
}
