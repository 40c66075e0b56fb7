// Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and
// by inclusive time for functions in berth's src/.
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/run.ts events
//   node --import tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile
import { readFileSync } from "node:fs";
import { table } from "./util.js";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: profile-summary.ts <file.cpuprofile> [top=25]\n");
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Time per sample from timeDeltas (µs).
const selfUs = new Map<number, number>();
p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const totalUs = p.endTime - p.startTime;

const label = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "nm:").replace(/.*\/(src|bench)\//, "$1/");
  return `${n.callFrame.functionName || "(anonymous)"} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ""}`.trim();
};

const self = new Map<string, number>();
const incl = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  self.set(label(n), (self.get(label(n)) ?? 0) + us);
  // Inclusive: count each distinct label once per stack.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + us);
  }
}
const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1)}%`;
const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`;
process.stdout.write(`profile: ${ms(totalUs)} wall\n\n`);
process.stdout.write(
  table([["self time", "", "function"], ...[...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([l, us]) => [ms(us), pct(us), l])]) + "\n\n",
);
// Self time by where the code lives: a package under node_modules, berth's src/, node internals.
const byArea = new Map<string, number>();
for (const [id, us] of selfUs) {
  const url = byId.get(id)!.callFrame.url;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  const area = nm ? nm[1]! : /\/(src|dist)\//.test(url) ? "berth (src/dist)" : url.startsWith("node:") ? "node internals" : url ? url : `(${byId.get(id)!.callFrame.functionName || "native"})`;
  byArea.set(area, (byArea.get(area) ?? 0) + us);
}
process.stdout.write(
  table([["self time", "", "package / area"], ...[...byArea].sort((a, b) => b[1] - a[1]).slice(0, top).map(([l, us]) => [ms(us), pct(us), l])]) + "\n\n",
);
process.stdout.write(
  table([
    ["inclusive", "", "berth function (src/)"],
    ...[...incl].filter(([l]) => / src\//.test(l)).sort((a, b) => b[1] - a[1]).slice(0, top).map(([l, us]) => [ms(us), pct(us), l]),
  ]) + "\n",
);
