/**
 * Structured logs: one JSON object per line, `{"time","level","msg",...fields}`.
 *
 * Lines go to stdout (debug, info) or stderr (warn, error) so a container runtime or journald
 * can keep them apart; any log shipper that reads JSON lines (Loki, Vector, Fluent Bit) parses
 * them without a pattern.
 */

/** Log levels, lowest first; `silent` turns logging off. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Levels in order, for parsing configuration. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Keys every line starts with; fields with these names are renamed `field.<name>`. */
const RESERVED = new Set(["time", "level", "msg"]);

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line; it shares its parent's level. */
  child(fields: Record<string, unknown>): Logger;
  /** Current threshold; setting it affects this logger, its parent and its children. */
  level: LogLevel;
  /** True when a line at `level` would be written (to skip building costly fields). */
  enabled(level: Exclude<LogLevel, "silent">): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Receives each line (no trailing newline). Default: stdout for debug/info, stderr otherwise. */
  sink?: (line: string, level: Exclude<LogLevel, "silent">) => void;
  /** Default: `new Date()`. */
  clock?: () => Date;
}

function defaultSink(line: string, level: Exclude<LogLevel, "silent">): void {
  if (level === "warn" || level === "error") console.error(line);
  else console.log(line);
}

/** Error objects have no enumerable fields; keep what a reader needs. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  return value;
}

/** Checks a level name from configuration. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Creates a logger writing JSON lines at or above `level`.
 *
 * @example const log = createLogger("info"); log.child({ stream: "cam1" }).info("publisher connected");
 */
export function createLogger(level: LogLevel, opts: LoggerOptions = {}): Logger {
  if (!isLogLevel(level)) throw new RangeError(`unknown log level ${level}`);
  const shared = { level };
  return makeLogger(shared, {}, opts.sink ?? defaultSink, opts.clock ?? (() => new Date()));
}

function makeLogger(
  shared: { level: LogLevel },
  bound: Record<string, unknown>,
  sink: NonNullable<LoggerOptions["sink"]>,
  clock: () => Date,
): Logger {
  const write = (
    level: Exclude<LogLevel, "silent">,
    msg: string,
    fields?: Record<string, unknown>,
  ) => {
    if (rank[level] < rank[shared.level]) return;
    const record: Record<string, unknown> = { time: clock().toISOString(), level, msg };
    copyFields(record, bound);
    if (fields) copyFields(record, fields);
    let line: string;
    try {
      line = JSON.stringify(record, replacer);
    } catch (err) {
      // A cyclic or otherwise unserialisable field must not lose the line.
      line = JSON.stringify({
        time: record.time,
        level,
        msg,
        log_error: `fields not serialisable: ${(err as Error).message}`,
      });
    }
    sink(line, level);
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => makeLogger(shared, { ...bound, ...fields }, sink, clock),
    get level() {
      return shared.level;
    },
    set level(value: LogLevel) {
      if (!isLogLevel(value)) throw new RangeError(`unknown log level ${value}`);
      shared.level = value;
    },
    enabled: (level) => rank[level] >= rank[shared.level],
  };
}

function copyFields(record: Record<string, unknown>, fields: Record<string, unknown>): void {
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined) continue;
    record[RESERVED.has(key) ? `field.${key}` : key] = value;
  }
}
