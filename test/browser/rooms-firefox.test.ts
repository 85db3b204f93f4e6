// Firefox and Chromium in one call, through the SDK and the call page: Firefox's offers (its
// own SDP dialect, simulcast by rid, its extension ids) are taken by the server, and the
// server's subscribe offers are taken by Firefox; each browser decodes the other's camera
// (frames advancing) and receives its microphone. Firefox is Debian's firefox-esr, driven over
// WebDriver BiDi (test/support/firefox.ts). Firefox gathers no loopback candidates, so the call
// runs in a network namespace whose address the server announces, as on a user's machine
// (scripts/netns.sh; rooms-firefox.child.ts). Skips, saying why, without Firefox, Chromium or
// the rights to make a namespace.
import { assertEquals, assertGreater } from "@std/assert";
import { browserUnavailable } from "../support/browser.ts";
import { firefoxUnavailable } from "../support/firefox.ts";
// The child runs where the package registry is unreachable: its modules load here first (and
// its native SRTP library, outside the tests, so the resource sanitizer does not count it).
import type { BroadcastResult, CallResult } from "./rooms-firefox.child.ts";
import "./rooms-firefox.child.ts";

const root = new URL("../../", import.meta.url);

function skipReason(): string | null {
  const browsers = browserUnavailable() ?? firefoxUnavailable();
  if (browsers) return browsers;
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

const skip = skipReason();
if (skip) console.log(`skipping the Firefox call test: ${skip}`);

/** Runs the child in a namespace; its last line of output, parsed. */
async function inNamespace<T>(...flags: string[]): Promise<T> {
  const out = await new Deno.Command(new URL("scripts/netns.sh", root).pathname, {
    args: [
      Deno.execPath(),
      "run",
      "--allow-all",
      `--config=${new URL("deno.json", root).pathname}`,
      new URL("test/browser/rooms-firefox.child.ts", root).pathname,
      "--ip=198.18.0.1",
      ...flags,
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

Deno.test({
  name: "browser: Firefox and Chromium in one call see and hear each other",
  ignore: skip !== null,
  fn: async () => {
    const result = await inNamespace<CallResult>();
    assertEquals(result.error, undefined, JSON.stringify(result));
    for (const [self, got] of Object.entries(result.received ?? {})) {
      assertGreater(got.later, got.first, `${self}'s frames advance`);
      assertGreater(got.audioPackets, 0, `${self} receives the other's microphone`);
      assertEquals(got.pcs, "pub connected, sub connected", self);
    }
    assertEquals(Object.keys(result.received ?? {}).sort(), ["Ada", "Fox"]);
    assertEquals(result.sources, { Ada: ["camera", "microphone"], Fox: ["camera", "microphone"] });
  },
});

Deno.test({
  name: "browser: Firefox publishes over WHIP what Chromium plays over WHEP, and the other way",
  ignore: skip !== null,
  fn: async () => {
    const result = await inNamespace<BroadcastResult>("--broadcast");
    assertEquals(result.error, undefined, JSON.stringify(result));
    assertEquals(Object.keys(result.played ?? {}).sort(), [
      "Chromium → Firefox",
      "Firefox → Chromium",
    ]);
    for (const [direction, got] of Object.entries(result.played ?? {})) {
      assertGreater(got.later, got.first, `${direction}: frames advance`);
      assertGreater(got.width, 0, `${direction}: a picture`);
    }
  },
});
