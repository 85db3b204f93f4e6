/**
 * The send path as production runs it: the real start command in a network namespace, the
 * media socket bound to all interfaces and a non-loopback address announced (scripts/netns.sh),
 * default workers. Every link must use the syscall path, as /metrics counts them
 * (`quetzal_send_links`); before issue 14, a server started without --allow-read announced
 * "syscall" and then sent every link through node:dgram, silently.
 */
import { assertEquals } from "@std/assert";

const root = new URL("../../", import.meta.url);

function skipReason(): string | undefined {
  if (Deno.build.os !== "linux") return "network namespaces are Linux-only";
  if (Deno.uid() !== 0) return "needs root to create a network namespace";
  for (const tool of ["unshare", "ip"]) {
    try {
      new Deno.Command(tool, { args: ["-V"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `no \`${tool}\` on this machine`;
    }
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`skipping network-namespace send-path tests: ${skip}`);

async function runInNamespace(permissions: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(new URL("scripts/netns.sh", root).pathname, {
    args: [
      Deno.execPath(),
      "run",
      "--allow-all",
      `--config=${new URL("deno.json", root).pathname}`,
      new URL("test/transport/netns-send-path.child.ts", root).pathname,
      "--ip=198.18.0.1",
      `--permissions=${permissions}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `namespace run failed: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout);
}

for (const permissions of ["task", "no-read"]) {
  Deno.test({
    name: `send path in a namespace, non-loopback address announced, ${
      permissions === "task"
        ? "deno task start's permissions, default workers"
        : "no --allow-read, --workers=1"
    }: every link uses sendto`,
    ignore: skip !== undefined,
    fn: async () => {
      const result = await runInNamespace(permissions);
      assertEquals(result.error, undefined, JSON.stringify(result));
      assertEquals(
        { syscall: result.syscall, dgram: result.dgram, warnings: result.warnings },
        { syscall: 3, dgram: 0, warnings: [] },
        "the publisher's link and both viewers' links send with sendto",
      );
    },
  });
}
