// The pages in real Chromium over HTTPS and over plain HTTP, on an origin that is not localhost:
// Chromium maps the name quetzal.test to 127.0.0.1 (--host-resolver-rules), so it is the
// browser's own rule that decides whether the page is a secure context. Over HTTPS it trusts
// exactly the test certificate (--ignore-certificate-errors-spki-list) and publishes its fake
// camera from the publish page; over plain HTTP the page must say why it cannot, and what to do.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { browserUnavailable, launchBrowser, type Page } from "../support/browser.ts";
import { pollUntil } from "../support/browser-media.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { TEST_HOST, writeTestCertificate } from "../support/tls.ts";
import { settleWeriftTimers } from "../support/werift-client.ts";

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const DEADLINE_MS = 30_000;

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

const skipReason = browserUnavailable();
if (skipReason) console.log(`skipping HTTPS browser tests: ${skipReason}`);

const MAP_TEST_HOST = `--host-resolver-rules=MAP ${TEST_HOST} 127.0.0.1`;

interface PageState {
  secure: boolean;
  origin: string;
  hasMediaDevices: boolean;
  noticeShown: boolean;
  notice: string;
  startDisabled: boolean;
  status: string;
}

function pageState(page: Page): Promise<PageState> {
  return page.evaluate<PageState>(`(() => {
    const notice = document.getElementById("camera-blocked");
    return {
      secure: window.isSecureContext,
      origin: location.origin,
      hasMediaDevices: Boolean(navigator.mediaDevices),
      noticeShown: !notice.hidden,
      notice: notice.innerText,
      startDisabled: document.getElementById("start").disabled,
      status: document.getElementById("status").hidden ? "" : document.getElementById("status").textContent,
    };
  })()`);
}

Deno.test({
  name: "browser: the publish page over HTTPS on a non-localhost name publishes the camera",
  ignore: skipReason !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "quetzal-https-browser-" });
    try {
      const cert = await writeTestCertificate(dir);
      await using browser = await launchBrowser({
        args: [MAP_TEST_HOST, `--ignore-certificate-errors-spki-list=${cert.info.spkiSha256}`],
      });
      if (!browser) return;
      const server = await startLoopbackServer({ tlsCert: cert.certPath, tlsKey: cert.keyPath });
      try {
        const origin = `https://${TEST_HOST}:${server.port}`;
        const page = await browser.newPage(`${origin}/publish?stream=tls-cam`);
        const before = await pageState(page);
        assertEquals(before.origin, origin);
        assert(before.secure, "an HTTPS page is a secure context");
        assert(before.hasMediaDevices);
        assert(!before.noticeShown, before.notice);
        assert(!before.startDisabled);

        await page.evaluate(`(() => {
          document.getElementById("token").value = ${JSON.stringify(server.publishToken)};
          document.getElementById("codec").value = "VP8";
          document.getElementById("start").click();
        })()`);
        // The page clears its status once the connection is up (ICE, DTLS).
        await pollUntil(
          "the publish page to connect",
          () => pageState(page),
          (s) => s.status === "" && s.startDisabled,
          DEADLINE_MS,
          [page],
        );
        assertEquals(server.manager.count("publisher"), 1);
        assertEquals(server.manager.liveStreams, 1);
        await page.evaluate(`document.getElementById("stop").click()`);
        await pollUntil(
          "the publisher to leave",
          () => Promise.resolve(server.manager.count("publisher")),
          (n) => n === 0,
          DEADLINE_MS,
          [page],
        );
        await page.close();
      } finally {
        await server.close();
        await settleWeriftTimers();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "browser: the publish page over plain HTTP off localhost says why it cannot publish",
  ignore: skipReason !== null,
  fn: async () => {
    await using browser = await launchBrowser({ args: [MAP_TEST_HOST] });
    if (!browser) return;
    const server = await startLoopbackServer();
    try {
      const page = await browser.newPage(`http://${TEST_HOST}:${server.port}/publish`);
      const state = await pageState(page);
      assertEquals(state.origin, `http://${TEST_HOST}:${server.port}`);
      assert(!state.secure, "plain HTTP on a non-loopback name is not a secure context");
      assert(!state.hasMediaDevices, "so Chromium hides the camera");
      assert(state.noticeShown, "the page explains it");
      assertStringIncludes(state.notice, "Cameras need HTTPS");
      assertStringIncludes(state.notice, `http://${TEST_HOST}:${server.port}`);
      assertStringIncludes(state.notice, "--tls-self-signed");
      assertStringIncludes(state.notice, "reverse proxy");
      assert(state.startDisabled, "Start is disabled instead of failing on click");
      assertStringIncludes(state.status, "cannot publish");
      if (Deno.env.get("QUETZAL_SCREENSHOT_DIR")) {
        await Deno.writeFile(
          `${Deno.env.get("QUETZAL_SCREENSHOT_DIR")}/publish-over-http.png`,
          await page.screenshot(),
        );
      }
      // The player module says the same to a script that calls it directly.
      const error = await page.evaluate<string>(`import("/player/player.js")
        .then((m) => m.whipPublish("/whip/x", {})).then(() => "", (e) => e.message)`);
      assertStringIncludes(error, "HTTPS");
      await page.close();

      // The same server on 127.0.0.1 is a secure context: no notice.
      const local = await browser.newPage(`${server.url}/publish`);
      const localState = await pageState(local);
      assert(localState.secure && localState.hasMediaDevices);
      assert(!localState.noticeShown && !localState.startDisabled);
      await local.close();
    } finally {
      await server.close();
    }
  },
});
