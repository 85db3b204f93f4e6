/**
 * Takes a V8 CPU profile of a running Deno process through its inspector (Deno 2.9 has no
 * --cpu-prof): start the process with `--inspect=127.0.0.1:PORT`, then
 *
 *   deno run --allow-net --allow-write scripts/inspector-profile.ts --port=PORT --seconds=15 \
 *     --out=server.cpuprofile [--interval-us=200]
 *
 * and read it with scripts/cpu-profile-summary.ts. Profiles the first target (the main
 * thread); workers are targets of their own.
 */
const arg = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const port = Number(arg("port") ?? 9229);
const seconds = Number(arg("seconds") ?? 10);
const out = arg("out") ?? "profile.cpuprofile";
const intervalUs = Number(arg("interval-us") ?? 200);

const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
  webSocketDebuggerUrl: string;
}[];
if (targets.length === 0) throw new Error("no inspector target");
const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
let nextId = 1;
const pending = new Map<number, (result: unknown) => void>();
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.id !== undefined) pending.get(message.id)?.(message.result ?? message.error);
};
const call = (method: string, params: Record<string, unknown> = {}) =>
  new Promise<unknown>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: intervalUs });
await call("Profiler.start");
await new Promise((r) => setTimeout(r, seconds * 1000));
const result = await call("Profiler.stop") as { profile: unknown };
await Deno.writeTextFile(out, JSON.stringify(result.profile));
socket.close();
console.error(`wrote ${out}`);
