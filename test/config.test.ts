import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  ConfigError,
  describeConfig,
  loadConfig,
  parseConfig,
  workerCount,
} from "../src/config.ts";

Deno.test("defaults", () => {
  const config = loadConfig([], {});
  assertEquals(config.port, 8080);
  assertEquals(config.host, "0.0.0.0");
  assertEquals(config.publicIps, []);
  assertEquals(config.rtcPorts, undefined);
  assertEquals(config.publishToken, undefined, "generated at start, not here");
  assertEquals(config.viewerToken, undefined);
  assertEquals(config.iceServers, []);
  assertEquals(config.logLevel, "info");
  assertEquals(config.maxSdpBytes, 64 * 1024);
  assertEquals(config.strictEtag, true);
  assertEquals(config.corsOrigin, "*");
  assertEquals(config.srtp, "auto");
});

Deno.test("flags and environment variables; a flag beats its variable", () => {
  const env = {
    QUETZAL_PORT: "9000",
    QUETZAL_HOST: "127.0.0.1",
    QUETZAL_PUBLISH_TOKEN: "from-the-environment",
    QUETZAL_VIEWER_TOKEN: "viewers",
    QUETZAL_LOG_LEVEL: "warn",
    QUETZAL_RTC_PORTS: "40000-40999",
  };
  const fromEnv = loadConfig([], env);
  assertEquals(
    [fromEnv.port, fromEnv.host, fromEnv.publishToken, fromEnv.viewerToken, fromEnv.logLevel],
    [9000, "127.0.0.1", "from-the-environment", "viewers", "warn"],
  );
  assertEquals(fromEnv.rtcPorts, [40000, 40999]);
  const both = loadConfig(
    ["--port", "9100", "--publish-token=from-the-command-line", "--log-level", "debug"],
    env,
  );
  assertEquals(
    [both.port, both.publishToken, both.logLevel, both.host],
    [9100, "from-the-command-line", "debug", "127.0.0.1"],
  );
  // An empty variable counts as unset.
  assertEquals(loadConfig([], { QUETZAL_PORT: "" }).port, 8080);
  // The last of a repeated scalar flag wins.
  assertEquals(loadConfig(["--port", "1", "--port", "2"], {}).port, 2);
});

Deno.test("lists: repeated flags, comma-separated values, variables with spaces", () => {
  assertEquals(
    loadConfig(["--public-ip", "192.0.2.1", "--public-ip=198.51.100.2,203.0.113.3"], {}).publicIps,
    ["192.0.2.1", "198.51.100.2", "203.0.113.3"],
  );
  assertEquals(
    loadConfig([], { QUETZAL_PUBLIC_IP: " 192.0.2.1 , 192.0.2.2,," }).publicIps,
    ["192.0.2.1", "192.0.2.2"],
  );
  const ice = loadConfig([], {
    QUETZAL_ICE_SERVERS: "stun:stun.example.org:3478,turn:turn.example.org?transport=udp",
  });
  assertEquals(ice.iceServers, [
    "stun:stun.example.org:3478",
    "turn:turn.example.org?transport=udp",
  ]);
  // Flags replace the variable's list rather than adding to it.
  assertEquals(
    loadConfig(["--public-ip", "192.0.2.9"], { QUETZAL_PUBLIC_IP: "192.0.2.1" }).publicIps,
    ["192.0.2.9"],
  );
});

Deno.test("strict-etag: bare flag, explicit values, and the variable", () => {
  assertEquals(loadConfig(["--strict-etag"], {}).strictEtag, true);
  assertEquals(loadConfig(["--strict-etag=false"], {}).strictEtag, false);
  assertEquals(loadConfig([], { QUETZAL_STRICT_ETAG: "0" }).strictEtag, false);
  assertEquals(loadConfig([], { QUETZAL_STRICT_ETAG: "off" }).strictEtag, false);
  assertEquals(loadConfig([], { QUETZAL_STRICT_ETAG: "yes" }).strictEtag, true);
  assertEquals(
    loadConfig(["--strict-etag", "true"], { QUETZAL_STRICT_ETAG: "false" }).strictEtag,
    true,
  );
});

Deno.test("workers: auto (one per core) by default, or a count", () => {
  assertEquals(loadConfig([], {}).workers, "auto");
  assertEquals(workerCount("auto"), navigator.hardwareConcurrency);
  assertEquals(loadConfig(["--workers", "3"], {}).workers, 3);
  assertEquals(workerCount(loadConfig([], { QUETZAL_WORKERS: "1" }).workers), 1);
});

Deno.test("each bad value gives a message naming the flag and the variable", () => {
  const rows: [string[], Record<string, string>, string, RegExp][] = [
    [["--port", "http"], {}, "--port / QUETZAL_PORT", /number/i],
    [["--port", "70000"], {}, "--port / QUETZAL_PORT", /65535/],
    [[], { QUETZAL_PORT: "-1" }, "--port / QUETZAL_PORT", /0/],
    [["--public-ip", "example.org"], {}, "--public-ip / QUETZAL_PUBLIC_IP", /IPv4/],
    [[], { QUETZAL_PUBLIC_IP: "192.0.2.300" }, "--public-ip / QUETZAL_PUBLIC_IP", /IPv4/],
    [["--rtc-ports", "40000"], {}, "--rtc-ports / QUETZAL_RTC_PORTS", /40000-40999/],
    [["--rtc-ports", "50000-40000"], {}, "--rtc-ports / QUETZAL_RTC_PORTS", /range/],
    [["--rtc-ports", "80-90"], {}, "--rtc-ports / QUETZAL_RTC_PORTS", /1024/],
    [["--publish-token", "short"], {}, "--publish-token / QUETZAL_PUBLISH_TOKEN", /8 characters/],
    [["--ice-server", "http://x"], {}, "--ice-server / QUETZAL_ICE_SERVERS", /STUN\/TURN/],
    [["--ice-server", 'turn:"x"'], {}, "--ice-server / QUETZAL_ICE_SERVERS", /quotes/],
    [
      ["--ice-username", "a;b"],
      {},
      "--ice-username / QUETZAL_ICE_USERNAME",
      /comma|semicolon|quote/i,
    ],
    [["--log-level", "loud"], {}, "--log-level / QUETZAL_LOG_LEVEL", /debug|info/],
    [["--max-sdp-bytes", "10"], {}, "--max-sdp-bytes / QUETZAL_MAX_SDP_BYTES", /1024/],
    [["--max-sessions", "0"], {}, "--max-sessions / QUETZAL_MAX_SESSIONS", /1/],
    [["--rate-limit-joins", "1.5"], {}, "--rate-limit-joins / QUETZAL_RATE_LIMIT_JOINS", /int/i],
    [
      [],
      { QUETZAL_RATE_LIMIT_FAILURES: "-1" },
      "--rate-limit-failures / QUETZAL_RATE_LIMIT_FAILURES",
      /0/,
    ],
    [["--trusted-proxy", "0.0.0.0/0"], {}, "--trusted-proxy / QUETZAL_TRUSTED_PROXIES", /\/0/],
    [[], { QUETZAL_TRUSTED_PROXIES: "proxy" }, "--trusted-proxy / QUETZAL_TRUSTED_PROXIES", /CIDR/],
    [["--srtp", "openssl"], {}, "--srtp / QUETZAL_SRTP", /libsrtp/],
    [["--send-path", "io_uring"], {}, "--send-path / QUETZAL_SEND_PATH", /syscall/],
    [["--workers", "many"], {}, "--workers / QUETZAL_WORKERS", /auto or an integer/],
    [[], { QUETZAL_WORKERS: "300" }, "--workers / QUETZAL_WORKERS", /256/],
    [["--strict-etag=maybe"], {}, "--strict-etag / QUETZAL_STRICT_ETAG", /true|false/],
    [[], { QUETZAL_STRICT_ETAG: "flase" }, "--strict-etag / QUETZAL_STRICT_ETAG", /true|false/],
  ];
  for (const [args, env, where, detail] of rows) {
    const error = assertThrows(() => loadConfig(args, env), ConfigError, where);
    const line = error.message.split("\n").find((l) => l.includes(where))!;
    assert(detail.test(line), `${args.join(" ")} ${JSON.stringify(env)}: ${line}`);
  }
});

Deno.test("all bad values are reported at once, one line each", () => {
  const error = assertThrows(
    () => loadConfig(["--port", "x", "--log-level", "loud"], { QUETZAL_PUBLIC_IP: "nope" }),
    ConfigError,
  );
  const lines = error.message.split("\n").slice(1);
  assertEquals(lines.length, 3, error.message);
  assertStringIncludes(error.message, "--port / QUETZAL_PORT");
  assertStringIncludes(error.message, "--log-level / QUETZAL_LOG_LEVEL");
  assertStringIncludes(error.message, "--public-ip / QUETZAL_PUBLIC_IP");
});

Deno.test("unknown flags, stray arguments and flags without values are errors", () => {
  assertThrows(() => loadConfig(["--prot", "80"], {}), ConfigError, "unknown flag --prot");
  assertThrows(() => loadConfig(["8080"], {}), ConfigError, 'unexpected argument "8080"');
  assertThrows(() => loadConfig(["--port"], {}), ConfigError, "--port needs a value");
  // "--port=" is not port 0 (any free port): an empty value is an error too.
  assertThrows(() => loadConfig(["--port="], {}), ConfigError, "--port needs a value");
  assertThrows(() => loadConfig(["--viewer-token", " "], {}), ConfigError, "needs a value");
  assertThrows(
    () => loadConfig(["--host", "--port", "1"], {}),
    ConfigError,
    "--host needs a value",
  );
});

Deno.test("rate limits: defaults, 0 turns off, trusted proxies; the replaced --rate-limit says what replaced it", () => {
  const defaults = loadConfig([], {});
  assertEquals([defaults.rateLimitJoins, defaults.rateLimitFailures], [500, 20]);
  assertEquals(defaults.trustedProxies, []);
  const off = loadConfig(["--rate-limit-joins", "0"], { QUETZAL_RATE_LIMIT_FAILURES: "0" });
  assertEquals([off.rateLimitJoins, off.rateLimitFailures], [0, 0]);
  assertEquals(
    loadConfig(["--trusted-proxy", "127.0.0.1", "--trusted-proxy=10.0.0.0/8,fd00::/8"], {})
      .trustedProxies,
    ["127.0.0.1", "10.0.0.0/8", "fd00::/8"],
  );
  for (
    const [args, env] of [
      [["--rate-limit", "120"], {}],
      [["--rate-limit=120"], {}],
      [[], { QUETZAL_RATE_LIMIT: "120" }],
    ] as const
  ) {
    const error = assertThrows(() => loadConfig([...args], env), ConfigError);
    assertStringIncludes(error.message, "--rate-limit / QUETZAL_RATE_LIMIT was replaced by");
    assertStringIncludes(error.message, "--rate-limit-joins and --rate-limit-failures");
  }
  assertEquals(loadConfig([], { QUETZAL_RATE_LIMIT: "" }).rateLimitJoins, 500, "empty is unset");
});

Deno.test("parseConfig takes typed values (startServer's overrides)", () => {
  const config = parseConfig({
    port: 0,
    publicIps: ["127.0.0.1"],
    strictEtag: false,
    maxSessions: 1,
  });
  assertEquals([config.port, config.publicIps, config.strictEtag, config.maxSessions], [
    0,
    ["127.0.0.1"],
    false,
    1,
  ]);
});

Deno.test("describeConfig masks every secret", () => {
  const config = loadConfig([
    "--publish-token=publish-secret-1234",
    "--viewer-token=viewer-secret",
    "--ice-credential=turn-pass",
    "--metrics-token=metrics-secret",
    "--room-secret=room-secret-of-at-least-32-characters",
  ], {});
  const printed = JSON.stringify(describeConfig(config));
  for (
    const secret of [
      "publish-secret-1234",
      "viewer-secret",
      "turn-pass",
      "metrics-secret",
      "room-secret-of-at-least-32-characters",
    ]
  ) {
    assert(!printed.includes(secret), secret);
  }
  assertEquals(describeConfig(loadConfig([], {})).viewerToken, undefined);
});
