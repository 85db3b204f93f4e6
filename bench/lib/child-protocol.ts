/**
 * The command channel between the bench orchestrator and its child processes: one JSON object
 * per line on stdin (commands) and stdout (replies and announcements). Children never log to
 * stdout otherwise; diagnostics go to stderr.
 */

/** A command from the orchestrator: `id` is echoed in the reply. */
export interface Command {
  id: number;
  cmd: string;
  [key: string]: unknown;
}

/** Prints one JSON line on stdout. */
export function emit(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

/**
 * Reads commands from stdin until it closes, replying `{ id, ...result }` (or `{ id, error }`).
 * Resolves when stdin ends: the orchestrator closed it or died, so the child should exit.
 */
export async function serveCommands(
  handle: (command: Command) => Promise<Record<string, unknown>> | Record<string, unknown>,
): Promise<void> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new LineSplitter(),
  );
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let command: Command;
    try {
      command = JSON.parse(line);
    } catch {
      continue;
    }
    try {
      emit({ id: command.id, ...(await handle(command)) });
    } catch (error) {
      emit({ id: command.id, error: String(error instanceof Error ? error.message : error) });
    }
  }
}

/** Splits a text stream into lines. */
export class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        rest += chunk;
        let nl = rest.indexOf("\n");
        while (nl >= 0) {
          controller.enqueue(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
          nl = rest.indexOf("\n");
        }
      },
      flush(controller) {
        if (rest.length > 0) controller.enqueue(rest);
      },
    });
  }
}

/** Flag value from `--name=value` arguments. */
export function argValue(args: string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  const arg = args.find((a) => a.startsWith(prefix));
  return arg?.slice(prefix.length);
}
