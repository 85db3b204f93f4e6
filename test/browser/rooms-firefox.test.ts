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
import { netnsUnavailable, runInNamespace } from "../support/netns.ts";
// The child runs where the package registry is unreachable: its modules load here first (and
// its native SRTP library, outside the tests, so the resource sanitizer does not count it).
import type { BroadcastResult, CallResult } from "./rooms-firefox.child.ts";
import "./rooms-firefox.child.ts";

const skip = browserUnavailable() ?? firefoxUnavailable() ?? netnsUnavailable();
if (skip) console.log(`skipping the Firefox call test: ${skip}`);

/** Runs the child in a namespace; its last line of output, parsed. */
function inNamespace<T>(...flags: string[]): Promise<T> {
  return runInNamespace("test/browser/rooms-firefox.child.ts", ["--ip=198.18.0.1", ...flags]);
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
