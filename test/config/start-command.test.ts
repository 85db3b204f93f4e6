/**
 * What users run, run for real: `deno task start` as a child process with each setting, as a
 * flag and as a `QUETZAL_*` variable (two settings a start: one each way), must serve /healthz
 * and stop cleanly on SIGTERM; an invalid value of each must stop the start with a message
 * naming the flag and the variable. The settings come from the schema
 * (and the OPTIONS table, as for the docs), so a new setting is covered without a new test: its
 * valid value is derived from the schema where it can be, and the test fails until a setting the
 * schema cannot describe gets a sample in SAMPLES. The README's command and the Dockerfile's CMD
 * (with its ENV, read from the Dockerfile) run the same way.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { z } from "zod";
import { CONFIG_URL, readOptions } from "../../scripts/gen-config-doc.ts";
import { ConfigError, ConfigSchema, loadConfig } from "../../src/config.ts";
import { CERT_FILE } from "../../src/http/tls/kept.ts";
import { writeTestCertificate } from "../support/tls.ts";
import {
  childEnv,
  freePort,
  mapBounded,
  ROOT,
  runToExit,
  serveAndStop,
  START_COMMAND,
  type StartOptions,
} from "../support/start-command.ts";

/** Starts at once: each costs about a second of CPU (less when it fails), on maybe two cores. */
const CONCURRENCY = 3;

/**
 * Valid values the schema cannot tell (addresses this machine has, a range, a URL), or where
 * the derived one would not do. A function is called just before the start that uses it.
 */
const tmp = await Deno.makeTempDir({ prefix: "quetzal-start-" });
const certificate = await writeTestCertificate(tmp);
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
/** Where runs with --tls-self-signed keep their certificate (not the repository's .quetzal). */
const stateDir = `${tmp}/state`;

const SAMPLES: Record<string, string | (() => string)> = {
  trustedProxies: "127.0.0.1",
  publicUrl: "http://127.0.0.1:8080",
  tlsCert: certificate.certPath,
  tlsKey: certificate.keyPath,
  stateDir,
  /** A free port rather than the schema's minimum 0, so the run shows the setting is obeyed. */
  port: () => String(freePort()),
  host: "127.0.0.1",
  publicIps: "127.0.0.1",
  rtcBindIp: "127.0.0.1",
  rtcPorts: "41000-41099",
  iceServers: "stun:127.0.0.1:3478",
};

/**
 * What a setting needs beside it to start (as variables; a flag of the same setting wins):
 * a certificate needs its key and the other way round; a self-signed one a place to be kept.
 */
const COMPANIONS: Record<string, () => Record<string, string>> = {
  tlsCert: () => ({ QUETZAL_TLS_KEY: certificate.keyPath }),
  tlsKey: () => ({ QUETZAL_TLS_CERT: certificate.certPath }),
  // A directory of its own: the flag and the variable run may start at the same time, and two
  // servers making a certificate in one directory leave a file that is not the one served.
  tlsSelfSigned: () => ({
    QUETZAL_STATE_DIR: Deno.makeTempDirSync({ dir: tmp, prefix: "state-" }),
  }),
};

/**
 * The certificates an https start may present: the test's own, or the self-signed one kept in
 * the start's state directory (its own, or `stateDir` when that setting is the start's flag).
 */
async function trusted(dirs: string[]): Promise<string[]> {
  const kept = await Promise.all(
    dirs.map((dir) => Deno.readTextFile(`${dir}/${CERT_FILE}`).catch(() => undefined)),
  );
  return [certificate.cert, ...kept.filter((pem) => pem !== undefined)];
}

/** Settings whose sample needs what not every machine has: why the run is skipped there. */
const UNAVAILABLE: Record<string, (value: string) => string | undefined> = {
  sendPath: (value) =>
    value === "syscall" && Deno.build.os !== "linux"
      ? "send path syscall (sendto over FFI) needs Linux"
      : undefined,
};

/** Values tried, in order, as the invalid value of a setting. */
const INVALID_CANDIDATES = ["!", 'a"b'];

/** Settings that take any non-empty string, so no value is invalid: why. */
const ANY_STRING: Record<string, string> = {
  viewerToken: "any non-empty token",
  metricsToken: "any non-empty token",
  corsOrigin: "any origin list, or *",
  tlsCert: "any path passes the schema; an unreadable file stops the start naming the setting " +
    "(test/http/https.test.ts)",
  tlsKey: "any path passes the schema; an unreadable file stops the start naming the setting " +
    "(test/http/https.test.ts)",
  stateDir: "any directory path; it is used with --tls-self-signed",
};

interface JsonField {
  type?: string;
  const?: unknown;
  anyOf?: JsonField[];
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  minLength?: number;
  pattern?: string;
  items?: JsonField;
}

interface Setting {
  flag: string;
  env: string;
  key: string;
}

const source = await Deno.readTextFile(CONFIG_URL);
const fields = (z.toJSONSchema(ConfigSchema, { io: "input", unrepresentable: "any" }) as {
  properties: Record<string, JsonField>;
}).properties;

/** Every setting: the schema's keys, each with its flag and variable from OPTIONS. */
function settings(): { settings: Setting[]; problems: string[] } {
  const options = readOptions(source);
  const problems: string[] = [];
  const list = Object.keys(ConfigSchema.shape).map((key) => {
    const option = options.find((o) => o.key === key);
    if (!option) problems.push(`${key}: no flag or variable in OPTIONS`);
    return option && { flag: option.flag, env: option.env, key };
  });
  return { settings: list.filter((s) => s !== undefined), problems };
}

/**
 * A valid value that is not the default where the schema says enough: the first other enum
 * value, a number's minimum, the other boolean, a string matching its pattern, one list item.
 */
function derive(field: JsonField, fallback = field.default): string | undefined {
  const isDefault = (value: string) => fallback !== undefined && value === String(fallback);
  if (field.enum) return field.enum.map(String).find((v) => !isDefault(v));
  if (field.anyOf) {
    return field.anyOf.map((f) => derive(f, fallback)).find((v) => v !== undefined);
  }
  if (field.const !== undefined) {
    return isDefault(String(field.const)) ? undefined : field.const + "";
  }
  if (field.type === "boolean") return String(fallback !== true);
  if (field.type === "integer" || field.type === "number") {
    return String(field.minimum ?? fallback ?? 1);
  }
  if (field.type === "array") return field.items && derive(field.items, undefined);
  if (field.type === "string") {
    const value = "quetzal-sample".padEnd(field.minLength ?? 0, "x");
    return field.pattern === undefined || new RegExp(field.pattern).test(value) ? value : undefined;
  }
  return undefined;
}

function sampleOf(setting: Setting): string | (() => string) | undefined {
  return SAMPLES[setting.key] ?? derive(fields[setting.key] ?? {});
}

function value(sample: string | (() => string)): string {
  return typeof sample === "function" ? sample() : sample;
}

/** The error loadConfig gives for `value` as the flag and as the variable (undefined: valid). */
function errors(setting: Setting, value: string): [string | undefined, string | undefined] {
  const attempt = (args: string[], env: Record<string, string>) => {
    try {
      loadConfig(args, env);
      return undefined;
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
  };
  return [attempt([`--${setting.flag}`, value], {}), attempt([], { [setting.env]: value })];
}

function invalidOf(setting: Setting): string | undefined {
  return INVALID_CANDIDATES.find((candidate) => {
    const [flag, env] = errors(setting, candidate);
    return flag !== undefined && env !== undefined;
  });
}

/** A setting and the value a start gives it. */
interface Given {
  setting: Setting;
  sample: string | (() => string);
}

/** One start: one setting as a flag and another as a variable. */
interface Run {
  flag: Given;
  env: Given;
}

/**
 * Each setting once as a flag and once as a variable, in half the starts: start k gives
 * setting k as a flag and setting k+1 as a variable. Each start costs about a second of CPU
 * (workers on, as users run it); two settings a start keep the file near a minute on 2 cores.
 */
function pairUp(given: readonly Given[]): Run[] {
  assert(given.length >= 3, "pairing needs three settings");
  // Settings that exclude each other never share a start: move the next one further on.
  const list = [...given];
  for (let k = 0; k < list.length; k++) {
    const next = (k + 1) % list.length;
    if (excludes(list[k].setting.key, list[next].setting.key)) {
      const after = (k + 2) % list.length;
      [list[next], list[after]] = [list[after], list[next]];
    }
  }
  return list.map((given, k) => ({ flag: given, env: list[(k + 1) % list.length] }));
}

/** Settings that cannot be given together (the server refuses the pair, naming both). */
const EXCLUSIVE: [string, string][] = [["tlsSelfSigned", "tlsCert"], ["tlsSelfSigned", "tlsKey"]];

function excludes(a: string, b: string): boolean {
  return EXCLUSIVE.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
}

const PORT: Setting = { flag: "port", env: "QUETZAL_PORT", key: "port" };

/** The command line and environment of a run, and the port its banner must name (if set). */
function startOf(run: Run): { label: string; options: StartOptions; port?: number } {
  const flag = value(run.flag.sample);
  const env = value(run.env.sample);
  const args = [`--${run.flag.setting.flag}`, flag];
  // Any free port (0) when neither setting is the port: 8080 may be taken on a test machine.
  const setsPort = run.flag.setting.key === "port" || run.env.setting.key === "port";
  if (!setsPort) args.push(`--${PORT.flag}`, "0");
  const port = run.flag.setting.key === "port"
    ? Number(flag)
    : run.env.setting.key === "port"
    ? Number(env)
    : undefined;
  const companions: Record<string, string> = {
    ...COMPANIONS[run.flag.setting.key]?.(),
    ...COMPANIONS[run.env.setting.key]?.(),
  };
  const dirs = [companions.QUETZAL_STATE_DIR ?? stateDir, stateDir];
  return {
    label: `--${run.flag.setting.flag} ${flag} with ${run.env.setting.env}=${env}`,
    options: {
      args,
      env: { ...companions, [run.env.setting.env]: env },
      caCerts: () => trusted(dirs),
    },
    port,
  };
}

/** Fails with every failed start's label and output at once, not only the first. */
function assertAllPassed(results: (string | undefined)[]): void {
  const failed = results.filter((r) => r !== undefined);
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${results.length} starts failed:\n\n${failed.join("\n\n")}`,
    );
  }
}

Deno.test("every setting has a flag, a variable, a valid sample and an invalid value (or a reason)", () => {
  const { settings: all, problems } = settings();
  for (const setting of all) {
    const sample = sampleOf(setting);
    if (sample === undefined) {
      problems.push(
        `${setting.key}: no valid sample derivable from the schema: add one to SAMPLES`,
      );
      continue;
    }
    const v = value(sample);
    const [flag, env] = errors(setting, v);
    if (flag ?? env) problems.push(`${setting.key}: the sample "${v}" is invalid: ${flag ?? env}`);
    const invalid = invalidOf(setting);
    if (invalid === undefined && !(setting.key in ANY_STRING)) {
      problems.push(
        `${setting.key}: none of ${JSON.stringify(INVALID_CANDIDATES)} is invalid: add one to ` +
          `INVALID_CANDIDATES, or the setting with a reason to ANY_STRING`,
      );
    }
    if (invalid !== undefined && setting.key in ANY_STRING) {
      problems.push(`${setting.key}: "${invalid}" is invalid: remove it from ANY_STRING`);
    }
  }
  for (const table of [SAMPLES, UNAVAILABLE, ANY_STRING, COMPANIONS]) {
    for (const key of Object.keys(table)) {
      if (!(key in ConfigSchema.shape)) problems.push(`${key}: no such setting (stale entry)`);
    }
  }
  assertEquals(problems, []);
});

Deno.test("each setting, as a flag and as a variable: `deno task start` serves /healthz", async () => {
  const given: Given[] = [];
  for (const setting of settings().settings) {
    const sample = sampleOf(setting);
    if (sample === undefined) continue; // reported by the test above
    const skip = UNAVAILABLE[setting.key]?.(value(sample));
    if (skip) console.log(`skipped ${setting.key}: ${skip}`);
    else given.push({ setting, sample });
  }
  const runs = pairUp(given);
  const results = await mapBounded(runs, CONCURRENCY, async (run) => {
    // Resolved here, so a port sample is chosen just before its start.
    const { label, options, port } = startOf(run);
    try {
      const served = await serveAndStop(options);
      assertEquals(JSON.parse(served.health), { status: "ok" });
      if (port !== undefined) assertEquals(served.port, port, "bound port");
      assert(served.status.success, `exit after SIGTERM: ${served.status.code}`);
      return undefined;
    } catch (error) {
      return `${label}: ${error instanceof Error ? error.message : error}`;
    }
  });
  assertAllPassed(results);
});

Deno.test("an invalid value of each setting, as a flag and as a variable, stops the start naming it", async () => {
  const given: Given[] = [];
  for (const setting of settings().settings) {
    const invalid = invalidOf(setting);
    if (invalid === undefined) console.log(`no invalid ${setting.key}: ${ANY_STRING[setting.key]}`);
    else given.push({ setting, sample: invalid });
  }
  // Both bad values of a start must be named: all problems are reported at once.
  const runs = pairUp(given);
  const results = await mapBounded(runs, CONCURRENCY, async (run) => {
    const { label, options } = startOf(run);
    try {
      const { status, stderr } = await runToExit(options);
      assert(!status.success, "exited 0");
      for (const { setting } of [run.flag, run.env]) {
        assertStringIncludes(stderr, `--${setting.flag} / ${setting.env}`);
      }
      // A clear message, not a crash with a stack trace.
      assert(!stderr.includes("Uncaught"), "uncaught error");
      return undefined;
    } catch (error) {
      return `${label}: ${error instanceof Error ? error.message : error}`;
    }
  });
  assertAllPassed(results);
});

Deno.test("the README's start command, as written, serves /healthz", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const line = readme.split("\n").find((l) => /^npx -y deno@[\d.]+ task start\b/.test(l));
  assert(line, "README has no `npx -y deno@… task start` line");
  const args = line.replace(/#.*/, "").trim().split(/\s+/).slice(3);
  assertEquals(args, ["task", "start"]);
  // No flags, as written; the port through its variable because 8080 may be taken here.
  const served = await serveAndStop({ env: { QUETZAL_PORT: "0" } });
  assertEquals(JSON.parse(served.health), { status: "ok" });
  assert(served.status.success, `exit after SIGTERM: ${served.status.code}`);
});

/** The ENV, CMD and HEALTHCHECK of a Dockerfile (exec forms only; shell forms are refused). */
function readDockerfile(text: string): {
  env: Record<string, string>;
  cmd: string[];
  healthcheck?: string[];
} {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/).map((l) => l.trim());
  const env: Record<string, string> = {};
  let cmd: string[] | undefined;
  let healthcheck: string[] | undefined;
  for (const line of lines) {
    if (/^ENV\s/i.test(line)) {
      const body = line.slice(3).trim();
      const pairs = [...body.matchAll(/([A-Za-z_][\w]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)];
      if (pairs.length === 0) throw new Error(`ENV without KEY=value: ${line}`);
      for (const [, key, raw] of pairs) {
        env[key] = /^["']/.test(raw) ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
      }
    }
    const exec = /^(CMD|HEALTHCHECK\b.*?\bCMD)\s+(.*)$/i.exec(line);
    if (exec) {
      if (!exec[2].startsWith("[")) throw new Error(`not the exec form: ${line}`);
      const argv = JSON.parse(exec[2]) as string[];
      if (/^CMD$/i.test(exec[1])) cmd = argv;
      else healthcheck = argv;
    }
  }
  if (!cmd) throw new Error("no CMD");
  return { env, cmd, healthcheck };
}

Deno.test("readDockerfile: continued ENV lines, quotes, exec-form CMD and HEALTHCHECK", () => {
  const parsed = readDockerfile([
    "FROM x",
    "ENV A=1 \\",
    '  B="two words" \\',
    "  C=3",
    'HEALTHCHECK --interval=5s CMD ["probe", "--x"]',
    'CMD ["deno", "task", "start"]',
  ].join("\n"));
  assertEquals(parsed, {
    env: { A: "1", B: "two words", C: "3" },
    cmd: ["deno", "task", "start"],
    healthcheck: ["probe", "--x"],
  });
});

Deno.test("the Dockerfile's CMD with its ENV serves /healthz and passes its HEALTHCHECK", async () => {
  const docker = readDockerfile(await Deno.readTextFile(new URL("Dockerfile", ROOT)));
  assertEquals(docker.cmd[0], "deno", "the CMD runs deno");
  assert(docker.env.QUETZAL_RTC_PORTS, "the image sets QUETZAL_RTC_PORTS");
  // Every ENV as written except the HTTP port, which may be taken on a test machine (the
  // container has its own network). The health check reads the same variable.
  const env = { ...docker.env, QUETZAL_PORT: String(freePort()) };
  const command = [Deno.execPath(), ...docker.cmd.slice(1)];
  assertEquals(command, [...START_COMMAND], "the image runs the README's command");
  const probes: Deno.CommandOutput[] = [];
  const served = await serveAndStop({
    command,
    env,
    whileServing: async () => {
      if (!docker.healthcheck) return;
      const [program, ...args] = docker.healthcheck;
      assertEquals(program, "deno", "the HEALTHCHECK runs deno");
      probes.push(
        await new Deno.Command(Deno.execPath(), {
          args,
          cwd: decodeURIComponent(ROOT.pathname),
          env: childEnv(env),
          clearEnv: true,
        })
          .output(),
      );
    },
  });
  assertEquals(served.port, Number(env.QUETZAL_PORT));
  assertEquals(JSON.parse(served.health), { status: "ok" });
  assert(served.status.success, `exit after SIGTERM: ${served.status.code}`);
  assert(docker.healthcheck, "the image has a HEALTHCHECK");
  assertEquals(probes.length, 1);
  assert(probes[0].success, `HEALTHCHECK failed: ${new TextDecoder().decode(probes[0].stderr)}`);
});
