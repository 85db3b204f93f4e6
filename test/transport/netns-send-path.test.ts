/**
 * The send path as production runs it: the real start command in a network namespace, the
 * media socket bound to all interfaces and a non-loopback address announced (scripts/netns.sh),
 * default workers. Every link must use the syscall path, as /metrics counts them
 * (`quetzal_send_links`); before issue 14, a server started without --allow-read announced
 * "syscall" and then sent every link through node:dgram, silently.
 */
import { assertEquals } from "@std/assert";
import { netnsUnavailable, runInNamespace } from "../support/netns.ts";

const skip = netnsUnavailable();
if (skip) console.log(`skipping network-namespace send-path tests: ${skip}`);

function runInNamespaceWith(permissions: string): Promise<Record<string, unknown>> {
  return runInNamespace("test/transport/netns-send-path.child.ts", [
    "--ip=198.18.0.1",
    `--permissions=${permissions}`,
  ]);
}

for (const permissions of ["task", "no-read"]) {
  Deno.test({
    name: `send path in a namespace, non-loopback address announced, ${
      permissions === "task"
        ? "deno task start's permissions, default workers"
        : "no --allow-read, --workers=1"
    }: every link uses sendto`,
    ignore: skip !== null,
    fn: async () => {
      const result = await runInNamespaceWith(permissions);
      assertEquals(result.error, undefined, JSON.stringify(result));
      assertEquals(
        { syscall: result.syscall, dgram: result.dgram, warnings: result.warnings },
        { syscall: 3, dgram: 0, warnings: [] },
        "the publisher's link and both viewers' links send with sendto",
      );
    },
  });
}
