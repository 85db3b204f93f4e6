// The HTTPS listener's reload: the new certificate for every connection made after reload()
// resolves, responses in flight finish on the old listener, and a port in use still fails.
import { assert, assertEquals } from "@std/assert";
import { readCertificate } from "../../src/http/tls/certificate.ts";
import { listen } from "../../src/http/tls/listener.ts";
import type { TlsMaterial } from "../../src/http/tls/source.ts";
import { createSelfSigned } from "../../src/http/tls/self-signed.ts";
import { createLogger } from "../../src/observability/log.ts";
import { servesCertificate } from "../support/tls.ts";

async function material(): Promise<TlsMaterial> {
  const made = await createSelfSigned({ hosts: ["localhost", "127.0.0.1"] });
  return { ...made, info: await readCertificate(made.cert) };
}

/** A source that hands out `materials` in turn, starting with the second. */
function rotating(materials: TlsMaterial[]) {
  let next = 0;
  return {
    kind: "files" as const,
    load: () => Promise.resolve(materials[++next % materials.length]),
  };
}

const silent = createLogger("silent");

Deno.test("every connection made after reload() gets the new certificate", async () => {
  const materials = [await material(), await material()];
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { source: rotating(materials), material: materials[0] },
    handler: () => new Response("ok"),
    logger: silent,
    reloadOnSighup: false,
  });
  try {
    // Each handshake comes from a new source port, so SO_REUSEPORT hashes them across the
    // listeners that are open; none may reach the old one or be reset by its closing.
    let wrong = 0;
    for (let round = 1; round <= 40; round++) {
      assert(await listener.reload());
      const served = materials[round % 2];
      assertEquals(listener.certificate?.fingerprint, served.info.fingerprint);
      for (let i = 0; i < 4; i++) {
        if (!(await servesCertificate(listener.port, served.cert))) wrong++;
      }
    }
    assertEquals(wrong, 0);
  } finally {
    await listener.close();
  }
});

Deno.test("a response in flight finishes on the old listener after a reload", async () => {
  const [a, b] = [await material(), await material()];
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { source: rotating([a, b]), material: a },
    handler: () => {
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode("first "));
          started.resolve();
          await release.promise;
          controller.enqueue(encoder.encode("last"));
          controller.close();
        },
      });
      return new Response(body);
    },
    logger: silent,
    reloadOnSighup: false,
  });
  using client = Deno.createHttpClient({ caCerts: [a.cert] });
  try {
    const response = await fetch(`https://127.0.0.1:${listener.port}/`, { client });
    const text = response.text();
    await started.promise;
    assert(await listener.reload());
    assert(await servesCertificate(listener.port, b.cert));
    release.resolve();
    assertEquals(await text, "first last");
  } finally {
    release.resolve();
    await listener.close();
  }
});

Deno.test("a port in use is refused, even though reloads share it", async () => {
  const a = await material();
  const tls = { source: rotating([a]), material: a };
  const options = { hostname: "127.0.0.1", tls, handler: () => new Response("ok"), logger: silent };
  const first = await listen({ ...options, port: 0, reloadOnSighup: false });
  try {
    const error = await listen({ ...options, port: first.port, reloadOnSighup: false }).then(
      () => null,
      (e) => e,
    );
    assert(error instanceof Deno.errors.AddrInUse, String(error));
  } finally {
    await first.close();
  }
  // Plain HTTP listens as before.
  const plain = await listen({ ...options, tls: null, port: 0 });
  try {
    assertEquals(plain.scheme, "http");
    assertEquals(await plain.reload(), false);
  } finally {
    await plain.close();
  }
});
