/**
 * Runs inside a network namespace (see scripts/netns.sh), started by netns-send-path.test.ts:
 * the real start command (the flags of `deno task start`, or those without --allow-read)
 * announcing the namespace's non-loopback address with the default workers (one, on the main
 * thread, without --allow-read: workers cannot load then), a werift
 * publisher and two viewers on that address, then prints what /metrics says of the send
 * links as one JSON line.
 *
 *   deno run -A netns-send-path.child.ts --ip=198.18.0.1 --permissions=task|no-read
 */
import { loadLibsrtp } from "../../src/transport/srtp-libsrtp.ts";
import { startStunStub } from "../support/stun-stub.ts";
import { play, publish, vp8Payload, waitFor } from "../support/werift-client.ts";

loadLibsrtp();
const arg = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ip = arg("ip") ?? "198.18.0.1";
const permissions = arg("permissions") ?? "task";
const root = new URL("../../", import.meta.url);

// The permission flags of `deno task start`, as deno.json spells them.
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const task = String(config.tasks.start).split(/\s+/);
let flags = task.filter((word) => word.startsWith("--allow-"));
// Without read access the workers' module cannot load: such a run forwards on the main thread.
const workers = permissions === "no-read" ? ["--workers=1"] : [];
if (permissions === "no-read") flags = flags.filter((f) => f !== "--allow-read");
const token = "netns-send-path-token";
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    ...flags,
    `--config=${new URL("deno.json", root).pathname}`,
    new URL("src/main.ts", root).pathname,
    "--port=0",
    "--host=127.0.0.1",
    `--public-ip=${ip}`,
    `--publish-token=${token}`,
    ...workers,
  ],
  stdout: "piped",
  stderr: "piped",
}).spawn();
const lines: string[] = [];
let url: string | undefined;
const listening = Promise.withResolvers<void>();
const readLines = async (stream: ReadableStream<Uint8Array>) => {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    for (const line of chunk.split("\n")) {
      if (!line.trim()) continue;
      lines.push(line);
      if (line.includes('"quetzal listening"')) {
        url = JSON.parse(line).url;
        listening.resolve();
      }
    }
  }
};
const pumps = [readLines(server.stdout), readLines(server.stderr)];
const timer = setTimeout(() => listening.reject(new Error("server did not start")), 30_000);
let result: Record<string, unknown>;
const stun = await startStunStub();
try {
  await listening.promise;
  clearTimeout(timer);
  const options = { stunUrl: stun.url, hostIp: ip };
  const publisher = await publish(url!, "live", token, options);
  await publisher.connected;
  const viewers = [await play(url!, "live", options), await play(url!, "live", options)];
  await Promise.all(viewers.map((v) => v.connected));
  const links = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (path: string) =>
      Number(new RegExp(`^quetzal_send_links\\{path="${path}"\\} (\\S+)$`, "m").exec(text)?.[1]);
    return { syscall: value("syscall"), dgram: value("dgram") };
  };
  let seen = { syscall: 0, dgram: 0 };
  let frame = 0;
  // Media until every link exists (the publisher's carries RTCP, each viewer's RTP); the
  // workers report their counts with their status, a few times a second.
  const pump = setInterval(async () => {
    publisher.sendVideoPayload(vp8Payload(frame % 30 === 0));
    if (frame++ % 3 === 0) publisher.sendAudio();
    seen = await links();
  }, 20);
  try {
    await waitFor(() => seen.syscall + seen.dgram >= 3, 20_000, "three send links");
  } finally {
    clearInterval(pump);
  }
  result = {
    ...seen,
    received: viewers.map((v) => v.videoSeqs.length),
    warnings: lines.filter((l) => l.includes("node:dgram")),
  };
  for (const peer of [publisher, ...viewers]) await peer.close();
} catch (error) {
  result = { error: String(error), log: lines.slice(-20) };
}
try {
  server.kill("SIGTERM");
} catch {
  // it exited on its own (the result says why)
}
await server.status;
await Promise.all(pumps);
await stun.close();
console.log(JSON.stringify(result));
Deno.exit(0);
