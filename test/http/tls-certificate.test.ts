// The pieces of HTTPS below the listener: the self-signed generator, the certificate kept in the
// state directory (made, reused, made anew and why) and the configuration checks that name flags.
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { ConfigError } from "../../src/config.ts";
import { readCertificate } from "../../src/http/tls/certificate.ts";
import { CERT_FILE, keptSelfSigned, KEY_FILE } from "../../src/http/tls/kept.ts";
import { createSelfSigned } from "../../src/http/tls/self-signed.ts";
import { resolveTls, selfSignedHosts } from "../../src/http/tls/source.ts";
import { writeTestCertificate } from "../support/tls.ts";

const DAY = 86_400_000;

Deno.test("a self-signed certificate covers its hosts for a year and Deno serves it", async () => {
  const hosts = ["localhost", "lan-box", "127.0.0.1", "192.0.2.7"];
  const { cert, key } = await createSelfSigned({ hosts });
  const info = await readCertificate(cert);
  assertEquals(info.hosts, hosts);
  assertMatch(info.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assertEquals(atob(info.spkiSha256).length, 32);
  const days = (info.notAfter.getTime() - Date.now()) / DAY;
  assert(days > 364 && days <= 365, `valid for ${days} days`);
  assertStringIncludes(key, "-----BEGIN PRIVATE KEY-----");
  // The real check: a TLS client that trusts only this certificate accepts the server.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("ok"),
  );
  using client = Deno.createHttpClient({ caCerts: [cert] });
  const response = await fetch(`https://localhost:${server.addr.port}/`, { client });
  assertEquals(await response.text(), "ok");
});

Deno.test("two certificates get different serial numbers and keys", async () => {
  const [a, b] = await Promise.all([
    createSelfSigned({ hosts: ["localhost"] }),
    createSelfSigned({ hosts: ["localhost"] }),
  ]);
  assert(a.key !== b.key);
  assert(
    (await readCertificate(a.cert)).fingerprint !== (await readCertificate(b.cert)).fingerprint,
  );
});

Deno.test("the kept certificate: made once with a private key file, then reused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = `${dir}/state`;
    const first = await keptSelfSigned(state, ["localhost", "127.0.0.1"]);
    assertEquals(first.madeBecause, "none was kept");
    assertEquals((await Deno.stat(`${state}/${KEY_FILE}`)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(state)).mode! & 0o777, 0o700);
    const again = await keptSelfSigned(state, ["127.0.0.1", "localhost"]);
    assertEquals(again.madeBecause, null);
    assertEquals(again.info.fingerprint, first.info.fingerprint);
    assertEquals(again.key, first.key);
    // No temporary files left behind.
    const names = [];
    for await (const entry of Deno.readDir(state)) names.push(entry.name);
    assertEquals(names.sort(), [CERT_FILE, KEY_FILE].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kept certificate is made anew when the addresses change, and says which", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await keptSelfSigned(dir, ["localhost", "127.0.0.1", "192.0.2.1"]);
    const next = await keptSelfSigned(dir, ["localhost", "127.0.0.1", "192.0.2.2"]);
    assertEquals(next.madeBecause, "the names and addresses changed (+192.0.2.2 -192.0.2.1)");
    assert(next.info.fingerprint !== first.info.fingerprint);
    assertEquals(next.info.hosts, ["localhost", "127.0.0.1", "192.0.2.2"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kept certificate is made anew when it expired or soon will", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hosts = ["localhost"];
    // Made 400 days ago: expired a month ago.
    await keptSelfSigned(dir, hosts, new Date(Date.now() - 400 * DAY));
    const renewed = await keptSelfSigned(dir, hosts);
    assertMatch(renewed.madeBecause ?? "", /^the kept one expired on \d{4}-\d{2}-\d{2}$/);
    assert(renewed.info.notAfter.getTime() > Date.now() + 300 * DAY);
    // Made 350 days ago: 15 days left, under the 30-day margin.
    await keptSelfSigned(`${dir}/b`, hosts, new Date(Date.now() - 350 * DAY));
    const early = await keptSelfSigned(`${dir}/b`, hosts);
    assertMatch(early.madeBecause ?? "", /^the kept one expires \d{4}-\d{2}-\d{2}$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged kept certificate or a foreign key is replaced, not served", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hosts = ["localhost"];
    await keptSelfSigned(dir, hosts);
    await Deno.writeTextFile(`${dir}/${CERT_FILE}`, "not a certificate");
    assertMatch((await keptSelfSigned(dir, hosts)).madeBecause ?? "", /unreadable/);
    await Deno.writeTextFile(`${dir}/${KEY_FILE}`, (await createSelfSigned({ hosts })).key);
    assertEquals(
      (await keptSelfSigned(dir, hosts)).madeBecause,
      "the kept key does not match the kept certificate",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the self-signed hosts: loopback, announced addresses, bind address, host name", () => {
  const hosts = selfSignedHosts("192.0.2.9", ["192.0.2.1", "127.0.0.1"]);
  assertEquals(hosts[0], "localhost");
  for (const host of ["127.0.0.1", "192.0.2.1", "192.0.2.9"]) assert(hosts.includes(host));
  assertEquals(new Set(hosts).size, hosts.length);
  assert(!selfSignedHosts("0.0.0.0", []).includes("0.0.0.0"));
});

const TLS_OFF = { tlsSelfSigned: false, stateDir: ".quetzal", host: "127.0.0.1" } as const;

Deno.test("TLS settings that do not fit together are refused, naming the flags", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ tlsCert: "a.pem" }, "--tls-key / QUETZAL_TLS_KEY: --tls-cert needs it"],
    [{ tlsKey: "k.pem" }, "--tls-cert / QUETZAL_TLS_CERT: --tls-key needs it"],
    [
      { tlsCert: "a.pem", tlsKey: "k.pem", tlsSelfSigned: true },
      "--tls-self-signed / QUETZAL_TLS_SELF_SIGNED: cannot be combined",
    ],
  ];
  for (const [settings, message] of cases) {
    const error = await assertRejects(
      () => resolveTls({ ...TLS_OFF, ...settings }, []),
      ConfigError,
    );
    assertStringIncludes(error.message, message);
  }
  assertEquals(await resolveTls(TLS_OFF, []), null);
});

Deno.test("bad certificate and key files are refused at start, naming the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = await writeTestCertificate(dir);
    await Deno.writeTextFile(`${dir}/garbage.pem`, "hello");
    const cases: [string, string, string][] = [
      [`${dir}/missing.pem`, good.keyPath, "--tls-cert / QUETZAL_TLS_CERT: cannot read"],
      [good.certPath, `${dir}/missing.pem`, "--tls-key / QUETZAL_TLS_KEY: cannot read"],
      [
        `${dir}/garbage.pem`,
        good.keyPath,
        `--tls-cert / QUETZAL_TLS_CERT: ${dir}/garbage.pem has no PEM "CERTIFICATE" block`,
      ],
      [
        good.certPath,
        `${dir}/garbage.pem`,
        `--tls-key / QUETZAL_TLS_KEY: ${dir}/garbage.pem has no PEM "PRIVATE KEY" block`,
      ],
      [
        good.keyPath,
        good.keyPath,
        `--tls-cert / QUETZAL_TLS_CERT: ${good.keyPath} has no PEM "CERTIFICATE" block`,
      ],
    ];
    for (const [tlsCert, tlsKey, message] of cases) {
      const error = await assertRejects(
        () => resolveTls({ ...TLS_OFF, tlsCert, tlsKey }, []),
        ConfigError,
      );
      assertStringIncludes(error.message, message);
    }
    const resolved = await resolveTls(
      { ...TLS_OFF, tlsCert: good.certPath, tlsKey: good.keyPath },
      [],
    );
    assertEquals(resolved?.source.kind, "files");
    assertEquals(resolved?.material.info.fingerprint, good.info.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a state directory that cannot be written is refused, naming --state-dir", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    const error = await assertRejects(
      () => resolveTls({ ...TLS_OFF, tlsSelfSigned: true, stateDir: `${dir}/file/sub` }, []),
      ConfigError,
    );
    assertStringIncludes(error.message, "--state-dir / QUETZAL_STATE_DIR: cannot keep");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
