/**
 * Quetzal's configuration: one zod schema, filled from flags and `QUETZAL_*` environment
 * variables (a flag wins over the environment), validated once at start.
 *
 * @example
 * const config = loadConfig(Deno.args, Deno.env.toObject());
 */
import { z } from "zod";
import { isAddressOrRange } from "./http/client-address.ts";

const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

const portRange = z.string().transform((value, ctx) => {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(value.trim());
  const min = match ? Number(match[1]) : NaN;
  const max = match ? Number(match[2]) : NaN;
  if (!match || min < 1024 || max > 65535 || min > max) {
    ctx.addIssue({
      code: "custom",
      message: `expected a UDP port range like "40000-40999" within 1024-65535, got "${value}"`,
    });
    return z.NEVER;
  }
  return [min, max] as [number, number];
});

const ipv4 = z.string().regex(
  /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/,
  "expected an IPv4 address",
);

const iceServerUrl = z.string().regex(
  /^(stun|turn|turns):[^\s,;"]+$/,
  'expected a STUN/TURN URL such as "stun:stun.example.org:3478" (no spaces, commas, quotes)',
);

/** OBS splits Link headers on "," and ";" and takes credentials between quotes (whip-utils). */
const LINK_SAFE = "no commas, semicolons or quotes (OBS cannot read them in a Link header)";

/** The schema. Field comments are what `--help` and docs/configuration show. */
export const ConfigSchema = z.object({
  /** HTTP port for WHIP, WHEP, the API, the player and metrics. */
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** HTTP bind address. */
  host: z.string().regex(
    /^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/,
    "expected an IP address or host name, such as 0.0.0.0, 127.0.0.1, :: or localhost",
  ).default("0.0.0.0"),
  /** Addresses announced in ICE candidates (NAT, Docker). Default: the host's IPv4 addresses. */
  publicIps: z.array(ipv4).default([]),
  /** Address the media (UDP) sockets bind to; default: each announced address. */
  rtcBindIp: ipv4.optional(),
  /** UDP port range for media sockets, e.g. 40000-40999. Default: any free port. */
  rtcPorts: portRange.optional(),
  /**
   * One UDP port for all media of a thread instead of a port per session: the main thread binds
   * it, viewer worker i the port + i (`--workers 2` uses 3 ports). 0 takes free ports. Needs the
   * syscall send path (Linux). Given with `rtcPorts`, this wins and the range is not used.
   */
  rtcPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Bearer token that publishers (OBS) must send. Generated at start when unset. */
  publishToken: z.string().min(8, "publish token must be at least 8 characters").optional(),
  /** Bearer token that viewers must send. Unset: playback is open. */
  viewerToken: z.string().min(1).optional(),
  /** STUN/TURN URLs handed to clients in `Link: rel="ice-server"` headers. */
  iceServers: z.array(iceServerUrl).default([]),
  /** Username and credential for TURN URLs in `iceServers`. */
  iceUsername: z.string().regex(/^[^,;"]*$/, LINK_SAFE).optional(),
  /** TURN credential for `iceServers` (no commas, semicolons or quotes: OBS cannot parse them). */
  iceCredential: z.string().regex(/^[^,;"]*$/, LINK_SAFE).optional(),
  /** Log level. */
  logLevel: z.enum(LOG_LEVELS).default("info"),
  /** Largest accepted SDP body in bytes. */
  maxSdpBytes: z.coerce.number().int().min(1024).max(1 << 20).default(64 * 1024),
  /** Most concurrent sessions (publishers + viewers); beyond: 503. */
  maxSessions: z.coerce.number().int().min(1).default(1000),
  /** Most viewers of one stream; beyond: 503. */
  maxViewersPerStream: z.coerce.number().int().min(1).default(500),
  /**
   * Sessions an address may open per minute, all at once (one NAT, many viewers); beyond: 429.
   * 0 = off.
   */
  rateLimitJoins: z.coerce.number().int().min(0).default(500),
  /**
   * Failed requests (bad token, unknown session, bad body) per address per minute, at once;
   * 0 = off.
   */
  rateLimitFailures: z.coerce.number().int().min(0).default(20),
  /** Reverse proxies (IP addresses, CIDR ranges) whose X-Forwarded-For names the client. */
  trustedProxies: z.array(
    z.string().refine(
      isAddressOrRange,
      "expected an IP address or CIDR range such as 10.0.0.0/8 (not /0: that trusts every client)",
    ),
  ).default([]),
  /** Milliseconds a session may take to connect (ICE + DTLS) before it is freed. */
  connectTimeoutMs: z.coerce.number().int().min(1000).default(15_000),
  /** Milliseconds to wait for sessions to end on SIGTERM. */
  shutdownGraceMs: z.coerce.number().int().min(0).default(5_000),
  /** Allowed CORS origins, or `*`. */
  corsOrigin: z.string().default("*"),
  /** Require If-Match on PATCH (RFC 9725 §4.3.1): missing → 428. Set false for clients that omit it. */
  strictEtag: z.boolean({ error: "expected true or false (also 1/0, yes/no, on/off)" }).default(
    true,
  ),
  /** SRTP implementation. */
  srtp: z.enum(["auto", "ts", "libsrtp"]).default("auto"),
  /** How media is sent: `syscall` (sendto over FFI, Linux), `dgram` (node:dgram), or `auto`. */
  sendPath: z.enum(["auto", "syscall", "dgram"]).default("auto"),
  /** Serve /metrics behind this bearer token (unset: open). */
  metricsToken: z.string().min(1).optional(),
  /**
   * Viewer worker threads (Deno Workers): `auto` takes one per core; 0 or 1 forwards on the main
   * thread.
   */
  workers: z.union([
    z.literal("auto"),
    z.coerce.number().int().min(0).max(256),
  ], { error: "expected auto or an integer from 0 to 256" }).default("auto"),
  /** Forwarded packets/s beyond which new viewers get 503 + Retry-After; 0 = no limit. */
  maxForwardPps: z.coerce.number().int().min(0).default(0),
  /** Resident memory (MiB) beyond which new sessions get 503 + Retry-After; 0 = no limit. */
  maxRssMb: z.coerce.number().int().min(0).default(0),
  /** Signs room links (HS256). Generated when unset: links then die with the process. */
  roomSecret: z.string().min(32, "room secret must be at least 32 characters").optional(),
  /** Most rooms at once; beyond, `POST /api/rooms` gets 503. */
  maxRooms: z.coerce.number().int().min(1).default(100),
  /** Base URL of room links, e.g. `https://calls.example.org`. Default: the API's URL. */
  publicUrl: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  /** PEM certificate (chain) file: serve HTTPS. Needs `tlsKey`; reloaded on SIGHUP. */
  tlsCert: z.string().min(1).optional(),
  /** PEM private key file for `tlsCert`. */
  tlsKey: z.string().min(1).optional(),
  /** Serve HTTPS with a self-signed certificate kept in `stateDir` (for a LAN or a trial). */
  tlsSelfSigned: z.boolean({ error: "expected true or false (also 1/0, yes/no, on/off)" })
    .default(false),
  /** Directory for what Quetzal keeps between starts (the self-signed certificate). */
  stateDir: z.string().min(1).default(".quetzal"),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Flag name → schema key, with the environment variable that also sets it. */
const OPTIONS: Record<string, { key: keyof Config; env: string; list?: boolean }> = {
  "port": { key: "port", env: "QUETZAL_PORT" },
  "host": { key: "host", env: "QUETZAL_HOST" },
  "public-ip": { key: "publicIps", env: "QUETZAL_PUBLIC_IP", list: true },
  "rtc-bind-ip": { key: "rtcBindIp", env: "QUETZAL_RTC_BIND_IP" },
  "rtc-ports": { key: "rtcPorts", env: "QUETZAL_RTC_PORTS" },
  "rtc-port": { key: "rtcPort", env: "QUETZAL_RTC_PORT" },
  "publish-token": { key: "publishToken", env: "QUETZAL_PUBLISH_TOKEN" },
  "viewer-token": { key: "viewerToken", env: "QUETZAL_VIEWER_TOKEN" },
  "ice-server": { key: "iceServers", env: "QUETZAL_ICE_SERVERS", list: true },
  "ice-username": { key: "iceUsername", env: "QUETZAL_ICE_USERNAME" },
  "ice-credential": { key: "iceCredential", env: "QUETZAL_ICE_CREDENTIAL" },
  "log-level": { key: "logLevel", env: "QUETZAL_LOG_LEVEL" },
  "max-sdp-bytes": { key: "maxSdpBytes", env: "QUETZAL_MAX_SDP_BYTES" },
  "max-sessions": { key: "maxSessions", env: "QUETZAL_MAX_SESSIONS" },
  "max-viewers-per-stream": { key: "maxViewersPerStream", env: "QUETZAL_MAX_VIEWERS_PER_STREAM" },
  "rate-limit-joins": { key: "rateLimitJoins", env: "QUETZAL_RATE_LIMIT_JOINS" },
  "rate-limit-failures": { key: "rateLimitFailures", env: "QUETZAL_RATE_LIMIT_FAILURES" },
  "trusted-proxy": { key: "trustedProxies", env: "QUETZAL_TRUSTED_PROXIES", list: true },
  "connect-timeout-ms": { key: "connectTimeoutMs", env: "QUETZAL_CONNECT_TIMEOUT_MS" },
  "shutdown-grace-ms": { key: "shutdownGraceMs", env: "QUETZAL_SHUTDOWN_GRACE_MS" },
  "cors-origin": { key: "corsOrigin", env: "QUETZAL_CORS_ORIGIN" },
  "strict-etag": { key: "strictEtag", env: "QUETZAL_STRICT_ETAG" },
  "srtp": { key: "srtp", env: "QUETZAL_SRTP" },
  "send-path": { key: "sendPath", env: "QUETZAL_SEND_PATH" },
  "metrics-token": { key: "metricsToken", env: "QUETZAL_METRICS_TOKEN" },
  "workers": { key: "workers", env: "QUETZAL_WORKERS" },
  "max-forward-pps": { key: "maxForwardPps", env: "QUETZAL_MAX_FORWARD_PPS" },
  "max-rss-mb": { key: "maxRssMb", env: "QUETZAL_MAX_RSS_MB" },
  "room-secret": { key: "roomSecret", env: "QUETZAL_ROOM_SECRET" },
  "max-rooms": { key: "maxRooms", env: "QUETZAL_MAX_ROOMS" },
  "public-url": { key: "publicUrl", env: "QUETZAL_PUBLIC_URL" },
  "tls-cert": { key: "tlsCert", env: "QUETZAL_TLS_CERT" },
  "tls-key": { key: "tlsKey", env: "QUETZAL_TLS_KEY" },
  "tls-self-signed": { key: "tlsSelfSigned", env: "QUETZAL_TLS_SELF_SIGNED" },
  "state-dir": { key: "stateDir", env: "QUETZAL_STATE_DIR" },
};

/** Settings that were replaced: giving one stops the server and says what to use instead. */
const REPLACED: Record<string, { env: string; instead: string }> = {
  // Was one fixed window of POST/PATCH/DELETE a minute, which refused DELETEs and NATed viewers.
  "rate-limit": {
    env: "QUETZAL_RATE_LIMIT",
    instead: "--rate-limit-joins and --rate-limit-failures (docs/configuration.md, Rate limits)",
  },
};

/** Flags that mean `true` when given alone (`--strict-etag`). */
const BOOLEAN_KEYS: ReadonlySet<keyof Config> = new Set(["strictEtag", "tlsSelfSigned"]);

/** A configuration problem, with one line per bad value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Viewer workers to start: `auto` is one per core (Deno's count of logical CPUs). */
export function workerCount(workers: Config["workers"]): number {
  return workers === "auto" ? Math.max(1, navigator.hardwareConcurrency) : workers;
}

/** Parses flags (`--port 9000` or `--port=9000`) and environment variables into a Config. */
export function loadConfig(args: string[], env: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {};
  for (const [name, replaced] of Object.entries(REPLACED)) {
    const given = args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (given || (env[replaced.env] ?? "") !== "") {
      throw new ConfigError(`--${name} / ${replaced.env} was replaced by ${replaced.instead}`);
    }
  }
  for (const [, option] of Object.entries(OPTIONS)) {
    const value = env[option.env];
    if (value !== undefined && value !== "") raw[option.key] = parseValue(option, [value]);
  }
  const fromFlags = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (!(name in OPTIONS)) {
      throw new ConfigError(`unknown flag --${name} (known: ${Object.keys(OPTIONS).join(", ")})`);
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) value = args[++i];
    else value = BOOLEAN_KEYS.has(OPTIONS[name].key) ? "true" : undefined;
    // "--port=" would otherwise coerce to 0 (any free port) without a word.
    if (value === undefined || value.trim() === "") {
      throw new ConfigError(`flag --${name} needs a value`);
    }
    fromFlags.set(name, [...(fromFlags.get(name) ?? []), value]);
  }
  for (const [name, values] of fromFlags) {
    raw[OPTIONS[name].key] = parseValue(OPTIONS[name], values);
  }
  return parseConfig(raw);
}

/** Validates an object against the schema, throwing a ConfigError that names each bad value. */
export function parseConfig(raw: Record<string, unknown>): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const option = Object.entries(OPTIONS).find(([, o]) => o.key === key);
      const where = option ? `--${option[0]} / ${option[1].env}` : key;
      return `  ${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** A Config from typed values (tests, benchmarks, embedding): validated once, like the flags. */
export function configFrom(input: Partial<ConfigInput> = {}): Config {
  return parseConfig(input);
}

function parseValue(option: { key: keyof Config; list?: boolean }, values: string[]): unknown {
  if (option.list) return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  const value = values[values.length - 1];
  if (BOOLEAN_KEYS.has(option.key)) {
    // Anything else stays a string, which the schema rejects: a typo must not mean "true".
    const word = value.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(word)) return true;
    if (["false", "0", "no", "off"].includes(word)) return false;
  }
  return value;
}

/** The effective configuration as printed at start: secrets masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const mask = (s?: string) => (s ? `${s.slice(0, 2)}…(${s.length} chars)` : undefined);
  return {
    ...config,
    publishToken: mask(config.publishToken),
    viewerToken: mask(config.viewerToken),
    iceCredential: mask(config.iceCredential),
    metricsToken: mask(config.metricsToken),
    roomSecret: mask(config.roomSecret),
  };
}

/** The non-internal IPv4 addresses of this host, for ICE candidates when none are configured. */
export function hostIpv4Addresses(): string[] {
  try {
    return Deno.networkInterfaces()
      .filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
      .map((i) => i.address)
      .filter((a, i, all) => all.indexOf(a) === i);
  } catch {
    return [];
  }
}
