/**
 * Quetzal over HTTPS: WHIP publish and WHEP play with werift clients against a server that
 * serves a certificate from PEM files, the pages over HTTPS, the certificate reloaded in place
 * (a bad file keeps the old one), the self-signed certificate kept across starts, and the real
 * start command: https in the banner, SIGHUP reloads, a bad file stops it naming the flag.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { ConfigError, configFrom, type ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { createSelfSigned } from "../../src/http/tls/self-signed.ts";
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startLoopbackServer } from "../support/loopback-server.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { servesCertificate, type TestCertificate, writeTestCertificate } from "../support/tls.ts";
import {
  holesOf,
  play,
  publish,
  serverSideConnected,
  settleWeriftTimers,
  waitFor,
} from "../support/werift-client.ts";

// Load the native SRTP library outside the tests so the resource sanitizer does not count it.
loadLibsrtp();

/** An upper bound so a broken build fails instead of hanging; not a speed assertion. */
const DEADLINE_MS = 20_000;

async function withCertificates(
  fn: (dir: string, a: TestCertificate, b: TestCertificate) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quetzal-https-" });
  try {
    await fn(dir, await writeTestCertificate(dir, "a"), await writeTestCertificate(dir, "b"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("HTTPS: WHIP publish and WHEP play with werift, and the pages, over TLS", async () => {
  await withCertificates(async (_dir, cert) => {
    const stun = await startStunStub();
    const server = await startLoopbackServer({ tlsCert: cert.certPath, tlsKey: cert.keyPath });
    using httpClient = Deno.createHttpClient({ caCerts: [cert.cert] });
    try {
      assertMatch(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assertEquals(server.tls?.kind, "files");
      assertEquals(server.tls?.certificate.fingerprint, cert.info.fingerprint);
      // Plain HTTP on the TLS port gets no page.
      await assertRejects(() => fetch(server.url.replace("https:", "http:") + "/healthz"));

      for (
        const [path, type] of [
          ["/publish", "text/html"],
          ["/watch/live", "text/html"],
          ["/player/publish.js", "text/javascript"],
          ["/player/secure-context.js", "text/javascript"],
        ]
      ) {
        const response = await fetch(server.url + path, { client: httpClient });
        assertEquals(response.status, 200, path);
        assertStringIncludes(response.headers.get("Content-Type") ?? "", type);
        await response.body?.cancel();
      }

      const options = { stunUrl: stun.url, httpClient };
      const publisher = await publish(server.url, "live", server.publishToken, options);
      await publisher.connected;
      const viewer = await play(server.url, "live", options);
      await viewer.connected;
      await serverSideConnected(server.manager, viewer.location);
      for (let i = 0; i < 120; i++) {
        publisher.sendVideo(i % 30 === 0);
        if (i % 3 === 0) publisher.sendAudio();
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(
        () => viewer.audioPackets >= 20 && holesOf(viewer.videoSeqs).unique >= 100,
        DEADLINE_MS,
        "media at the viewer",
      );
      assert(viewer.keyframes > 0);

      for (
        const [location, token] of [
          [viewer.location, undefined],
          [publisher.location, server.publishToken],
        ]
      ) {
        const response = await fetch(server.url + location, {
          client: httpClient,
          method: "DELETE",
          headers: token ? { Authorization: `Bearer ${token}` } : {},
        });
        assertEquals(response.status, 200);
        await response.body?.cancel();
      }
      assertEquals(server.manager.sessions.size, 0);
      await viewer.close();
      await publisher.close();
    } finally {
      await server.close();
      await stun.close();
      await settleWeriftTimers();
    }
  });
});

/** A server whose log lines are kept, for the reload messages. */
async function loggedServer(config: Partial<ConfigInput>): Promise<[RunningServer, string[]]> {
  const lines: string[] = [];
  const logger = createLogger("info", { sink: (line) => lines.push(line) });
  const server = await startServer(
    configFrom({ port: 0, host: "127.0.0.1", publicIps: ["127.0.0.1"], workers: 1, ...config }),
    { logger },
  );
  return [server, lines];
}

Deno.test("HTTPS: a reload serves the rewritten files; a bad file keeps the old certificate", async () => {
  await withCertificates(async (dir, a, b) => {
    const certPath = `${dir}/live-cert.pem`;
    const keyPath = `${dir}/live-key.pem`;
    await Deno.copyFile(a.certPath, certPath);
    await Deno.copyFile(a.keyPath, keyPath);
    const [server, lines] = await loggedServer({ tlsCert: certPath, tlsKey: keyPath });
    try {
      assert(await servesCertificate(server.port, a.cert));
      assert(!(await servesCertificate(server.port, b.cert)));

      assertEquals(await server.tls!.reload(), false, "same files: nothing to do");
      assert(lines.some((l) => l.includes("tls certificate unchanged")));

      // Renewal as certbot does it: new files in place, then a reload.
      await Deno.copyFile(b.certPath, certPath);
      await Deno.copyFile(b.keyPath, keyPath);
      assertEquals(await server.tls!.reload(), true);
      assertEquals(server.tls!.certificate.fingerprint, b.info.fingerprint);
      assert(await servesCertificate(server.port, b.cert), "the new certificate is served");
      assert(!(await servesCertificate(server.port, a.cert)), "the old one is not");
      using client = Deno.createHttpClient({ caCerts: [b.cert] });
      const health = await fetch(`${server.url}/healthz`, { client });
      assertEquals(health.status, 200);
      await health.body?.cancel();

      // A half-written certificate, then a key of another certificate: both keep b.
      await Deno.writeTextFile(certPath, "-----BEGIN CERTIFICATE-----\ntruncated");
      assertEquals(await server.tls!.reload(), false);
      await Deno.copyFile(b.certPath, certPath);
      await Deno.copyFile(a.keyPath, keyPath);
      assertEquals(await server.tls!.reload(), false);
      const failures = lines.filter((l) => l.includes("tls reload failed"));
      assertEquals(failures.length, 2, lines.join("\n"));
      assertStringIncludes(failures[0], "--tls-cert / QUETZAL_TLS_CERT");
      assertStringIncludes(failures[1], "KeyMismatch");
      assertEquals(server.tls!.certificate.fingerprint, b.info.fingerprint);
      assert(await servesCertificate(server.port, b.cert), "still serving the previous one");
    } finally {
      await server.close();
    }
  });
});

Deno.test("HTTPS: a key that does not belong to the certificate stops the start, naming the flags", async () => {
  await withCertificates(async (_dir, a, b) => {
    const error = await assertRejects(
      () => startLoopbackServer({ tlsCert: a.certPath, tlsKey: b.keyPath }),
      ConfigError,
    );
    assertStringIncludes(error.message, "--tls-cert / --tls-key: cannot serve");
  });
});

Deno.test("HTTPS: the self-signed certificate is kept in the state directory and reused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quetzal-state-" });
  try {
    const config = { tlsSelfSigned: true, stateDir: `${dir}/state` };
    const first = await startLoopbackServer(config);
    let fingerprint: string;
    try {
      assertMatch(first.url, /^https:/);
      assertEquals(first.tls?.kind, "self-signed");
      assertEquals(first.tls?.kept?.madeBecause, "none was kept");
      fingerprint = first.tls!.certificate.fingerprint;
      const kept = await Deno.readTextFile(`${dir}/state/self-signed-cert.pem`);
      assert(await servesCertificate(first.port, kept));
      assert(first.tls!.certificate.hosts.includes("127.0.0.1"));
    } finally {
      await first.close();
    }
    const second = await startLoopbackServer(config);
    try {
      assertEquals(second.tls?.kept?.madeBecause, null);
      assertEquals(second.tls!.certificate.fingerprint, fingerprint);
    } finally {
      await second.close();
    }
    const moved = await startLoopbackServer({ ...config, publicIps: ["127.0.0.2"] });
    try {
      assertStringIncludes(moved.tls?.kept?.madeBecause ?? "", "+127.0.0.2");
      assert(moved.tls!.certificate.fingerprint !== fingerprint);
    } finally {
      await moved.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `deno task start` as deno.json spells it, with `extra` flags, in the repository root. */
function startCommand(extra: string[]): Deno.Command {
  const root = new URL("../../", import.meta.url);
  const task = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root))).tasks.start as string;
  const [deno, ...args] = task.split(/\s+/);
  assertEquals(deno, "deno");
  return new Deno.Command(Deno.execPath(), {
    args: [...args, ...extra],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

/** Keeps a child's output as it comes, and waits for text in it. */
class Output {
  text = "";
  readonly done: Promise<void>;
  constructor(...streams: ReadableStream<Uint8Array>[]) {
    this.done = Promise.all(streams.map(async (stream) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.text += chunk;
    })).then(() => {});
  }
  async waitFor(pattern: RegExp, what: string): Promise<RegExpExecArray> {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const match = pattern.exec(this.text);
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`no ${what} in:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

Deno.test("the start command: https in the banner, SIGHUP reloads, a bad file is logged", async () => {
  await withCertificates(async (dir, a, b) => {
    const certPath = `${dir}/live-cert.pem`;
    const keyPath = `${dir}/live-key.pem`;
    await Deno.copyFile(a.certPath, certPath);
    await Deno.copyFile(a.keyPath, keyPath);
    const child = startCommand([
      "--port=0",
      "--host=127.0.0.1",
      "--public-ip=127.0.0.1",
      "--workers=1",
      `--tls-cert=${certPath}`,
      `--tls-key=${keyPath}`,
    ]).spawn();
    const output = new Output(child.stdout, child.stderr);
    try {
      const [, base, port] = await output.waitFor(
        /Server:\s+(https:\/\/127\.0\.0\.1:(\d+))\/whip\/live/,
        "https WHIP URL in the banner",
      );
      assertStringIncludes(output.text, `Publish (browser):  ${base}/publish`);
      assertStringIncludes(output.text, "SIGHUP reloads the files");
      assert(await servesCertificate(Number(port), a.cert));

      await Deno.copyFile(b.certPath, certPath);
      await Deno.copyFile(b.keyPath, keyPath);
      child.kill("SIGHUP");
      await output.waitFor(/tls certificate reloaded/, "reload log line");
      assert(await servesCertificate(Number(port), b.cert), "the new certificate is served");

      await Deno.writeTextFile(keyPath, "garbage");
      child.kill("SIGHUP");
      await output.waitFor(/tls reload failed.*--tls-key \/ QUETZAL_TLS_KEY/, "reload failure");
      assert(await servesCertificate(Number(port), b.cert), "still the previous certificate");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await output.done;
      assertEquals(status.code, 0, output.text);
    }
  });
});

Deno.test("the start command: a missing key file stops it with the flag named", async () => {
  await withCertificates(async (dir, a) => {
    const { code, stderr } = await startCommand([
      "--port=0",
      "--host=127.0.0.1",
      "--workers=1",
      `--tls-cert=${a.certPath}`,
      `--tls-key=${dir}/nowhere.pem`,
    ]).output();
    const text = new TextDecoder().decode(stderr);
    assertEquals(code, 2, text);
    assertStringIncludes(text, "quetzal: --tls-key / QUETZAL_TLS_KEY: cannot read");
  });
});

Deno.test("HTTPS: an expired certificate from files is served, with a warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quetzal-https-" });
  try {
    const old = await createSelfSigned({
      hosts: ["localhost", "127.0.0.1"],
      now: new Date(Date.now() - 400 * 86_400_000),
    });
    await Deno.writeTextFile(`${dir}/cert.pem`, old.cert);
    await Deno.writeTextFile(`${dir}/key.pem`, old.key);
    const [server, lines] = await loggedServer({
      tlsCert: `${dir}/cert.pem`,
      tlsKey: `${dir}/key.pem`,
    });
    try {
      assert(lines.some((l) => l.includes('"tls certificate expired"')), lines.join("\n"));
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
