// Benchmarks entry: `npm run bench` runs all, `npm run bench -- <name>` runs one.
// They print markdown tables (stdout) and progress (stderr); they assert nothing about speed.
import { machineInfo, now, progress, say } from "./util.js";

const BENCHES: Record<string, { aliases: string[]; load: () => Promise<{ run(): Promise<void> }> }> = {
  "session-overhead": { aliases: ["session", "overhead"], load: () => import("./session-overhead.js") },
  events: { aliases: ["event", "sse"], load: () => import("./events.js") },
  density: { aliases: ["concurrency", "load"], load: () => import("./density.js") },
  pool: { aliases: ["warm-pool", "pools"], load: () => import("./pool.js") },
  ingest: { aliases: ["acp-ingest", "flood"], load: () => import("./ingest.js") },
  "cold-start": { aliases: ["cold", "start"], load: () => import("./cold-start.js") },
  harnesses: { aliases: ["harness", "per-harness"], load: () => import("./harnesses.js") },
  images: { aliases: ["image", "podman"], load: () => import("./images.js") },
  gateway: { aliases: ["gw"], load: () => import("./gateway.js") },
  "t1-start": { aliases: ["t1", "sandbox-start"], load: () => import("./t1-start.js") },
  snapshots: { aliases: ["snapshot", "diff"], load: () => import("./snapshots.js") },
  workspaces: { aliases: ["workspace", "files", "clone", "archive"], load: () => import("./workspaces.js") },
  "harness-integrity": { aliases: ["integrity"], load: () => import("./harness-integrity.js") },
  "scale-out": { aliases: ["nodes", "postgres", "cluster"], load: () => import("./scale-out.js") },
  "session-list": { aliases: ["list", "sessions"], load: () => import("./session-list.js") },
};

function resolveName(arg: string): string | undefined {
  if (BENCHES[arg]) return arg;
  return Object.keys(BENCHES).find((k) => BENCHES[k]!.aliases.includes(arg));
}

const arg = process.argv[2];
let names = Object.keys(BENCHES);
if (arg) {
  const name = resolveName(arg);
  if (!name) {
    process.stderr.write(`unknown benchmark '${arg}'; choose one of: ${names.join(", ")}\n`);
    process.exit(2);
  }
  names = [name];
}

say(`# berth benchmarks`);
say();
say(`_${machineInfo()}_`);
const started = now();
let failed = false;
for (const name of names) {
  const t = now();
  progress(`${name}: starting`);
  try {
    const mod = await BENCHES[name]!.load();
    await mod.run();
  } catch (e) {
    failed = true;
    process.stderr.write(`[bench] ${name} failed: ${(e as Error)?.stack ?? e}\n`);
    say(`\n**${name} failed:** ${(e as Error)?.message ?? e}`);
  }
  progress(`${name}: done in ${((now() - t) / 1000).toFixed(1)} s`);
}
progress(`all done in ${((now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
