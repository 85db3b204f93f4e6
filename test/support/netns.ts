/**
 * Tests that run a Deno child in a throw-away network namespace (scripts/netns.sh: loopback, a
 * veth pair with 198.18.0.1/24 and a default route into it), where a server announces a
 * non-loopback address as in production and nothing leaves the host. The child is started by
 * `Deno.execPath()`: inside the namespace there is no package registry, so the test must have
 * loaded the child's modules first.
 */
import { assertEquals } from "@std/assert";

const root = new URL("../../", import.meta.url);

/** Why namespace tests cannot run here, or null. */
export function netnsUnavailable(): string | null {
  if (Deno.build.os !== "linux") return "network namespaces are Linux-only";
  if (Deno.uid() !== 0) return "needs root to create a network namespace";
  for (const tool of ["unshare", "ip"]) {
    try {
      new Deno.Command(tool, { args: ["-V"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `no \`${tool}\` on this machine`;
    }
  }
  return null;
}

/**
 * Runs `script` (a path from the repository root) with all permissions in a namespace and
 * returns its last line of output, parsed as JSON; a non-zero exit fails with its stderr.
 */
export async function runInNamespace<T>(script: string, args: string[]): Promise<T> {
  const out = await new Deno.Command(new URL("scripts/netns.sh", root).pathname, {
    args: [
      Deno.execPath(),
      "run",
      "--allow-all",
      `--config=${new URL("deno.json", root).pathname}`,
      new URL(script, root).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `namespace run failed: ${stderr.slice(-2000)}`);
  const parsed: T = JSON.parse(stdout);
  return parsed;
}
