/**
 * Where a V8 CPU profile's time went: self time by function and by source file, and inclusive
 * time of the frames whose function or file matches each `--group=NAME:REGEX` (a sample counts
 * once per group however deep the match), as shares of the profile's busy (non-idle) time.
 *
 *   deno run --allow-read scripts/cpu-profile-summary.ts PROFILE.cpuprofile [--top=25]
 *     [--group=srtp:srtp] [--group=send:syscall-link|udp-link]
 *
 * Profiles come from `deno run --cpu-prof --cpu-prof-dir=DIR …` (written when the process
 * exits normally, e.g. on SIGTERM after the server drains).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = Deno.args;
const file = args.find((a) => !a.startsWith("--"));
if (!file) {
  console.error("usage: cpu-profile-summary.ts PROFILE.cpuprofile [--top=N] [--group=NAME:REGEX]");
  Deno.exit(2);
}
const top = Number(args.find((a) => a.startsWith("--top="))?.slice(6) ?? 25);
const groups = args.filter((a) => a.startsWith("--group=")).map((a) => {
  const [name, ...rest] = a.slice(8).split(":");
  return { name, re: new RegExp(rest.join(":")) };
});

const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (f: CallFrame) => {
  const base = f.url.split("/").pop() || "(native)";
  return `${f.functionName || "(anonymous)"} ${base}:${f.lineNumber + 1}`;
};
const fileOf = (f: CallFrame) => f.url.split("/").pop() || f.functionName || "(native)";

const selfByFunction = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inGroup = new Map<string, number>();
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const node = byId.get(profile.samples[i])!;
  total += dt;
  if (node.callFrame.functionName === "(idle)") {
    idle += dt;
    continue;
  }
  const fn = label(node.callFrame);
  selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + dt);
  const f = fileOf(node.callFrame);
  selfByFile.set(f, (selfByFile.get(f) ?? 0) + dt);
  const hit = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id)!.callFrame;
    for (const g of groups) {
      if (!hit.has(g.name) && (g.re.test(frame.functionName) || g.re.test(frame.url))) {
        hit.add(g.name);
      }
    }
  }
  for (const name of hit) inGroup.set(name, (inGroup.get(name) ?? 0) + dt);
}
const busy = total - idle;
const pct = (us: number) => `${(us / busy * 100).toFixed(1)} %`;
const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);

console.log(
  `profile: ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s ` +
    `(${(busy / total * 100).toFixed(0)} %), shares below are of busy time`,
);
if (groups.length > 0) {
  console.log("\ninclusive, by group:");
  for (const g of groups) console.log(`  ${pct(inGroup.get(g.name) ?? 0).padStart(8)}  ${g.name}`);
}
console.log("\nself, by file:");
for (const [name, us] of sorted(selfByFile)) console.log(`  ${pct(us).padStart(8)}  ${name}`);
console.log("\nself, by function:");
for (const [name, us] of sorted(selfByFunction)) console.log(`  ${pct(us).padStart(8)}  ${name}`);
