// T1 sandbox start-up cost of the hardening: a trivial command (/bin/true) in a bubblewrap
// sandbox, start to exit, in three set-ups interleaved run by run so load drifts hit all
// alike: as on main before it (prlimit + bwrap as uid 1000, no seccomp, no cgroup; argv
// rebuilt here), with the seccomp filter only (BERTH_T1_CGROUPS=off), and the default
// (per-sandbox cgroup + seccomp + --disable-userns). The cgroup variant's time includes
// creating, entering and removing the cgroup.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BwrapDriver } from "../src/sandboxes/bwrap.js";
import { encodeProgram, nativeArch, seccompProgram } from "../src/sandboxes/seccomp.js";
import type { SandboxSpec } from "../src/sandboxes/types.js";
import { sessionSpec } from "../test/sandboxes/spec.js";
import { fmtMs, heading, median, now, percentile, progress, say, table } from "./util.js";

const RUNS = Number(process.env.BENCH_T1_RUNS ?? 30);
const BPF = join(mkdtempSync(join(tmpdir(), "berth-bench-bpf-")), "filter.bpf");
writeFileSync(BPF, encodeProgram(seccompProgram(nativeArch() ?? "x86_64")));

/** A throwaway session layout, as berth lays it out (uid 1000 can reach its workspace and home). */
const spec = (): SandboxSpec => ({ ...sessionSpec(["/bin/true"]), sessionId: "bench", env: {} });

/** main's start: prlimit (with RLIMIT_NPROC as the process bound) and bwrap, spawned as uid 1000. */
async function mainStart(driver: BwrapDriver, s: SandboxSpec, withSeccomp = false): Promise<void> {
  const etc = join(s.home, "..", "etc");
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "passwd"), "agent:x:1000:1000::/home/agent:/bin/bash\n");
  writeFileSync(join(etc, "group"), "agent:x:1000:\n");
  const filter = withSeccomp ? ["--seccomp", "3", "--unshare-user", "--disable-userns"] : [];
  const argv = ["prlimit", "--nproc=2048", "--nofile=4096", `--fsize=${4 * 1024 ** 3}`, "--cpu=14400", `--data=${4 * 1024 ** 3}`, "--core=0", "--", "bwrap", ...filter, ...driver.args(s, etc)];
  const root = process.getuid?.() === 0;
  const fd = withSeccomp ? openSync(BPF, "r") : undefined;
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "ignore", ...(fd !== undefined ? [fd] : [])], env: driver.env(s), ...(root ? { uid: 1000, gid: 1000 } : {}) });
  if (fd !== undefined) closeSync(fd);
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`main-style sandbox exited ${code}`);
}

async function driverStart(driver: BwrapDriver, s: SandboxSpec): Promise<void> {
  const p = await driver.start(s);
  const { code } = await p.exited;
  await p.kill(); // the cgroup is removed by then
  if (code !== 0) throw new Error(`sandbox exited ${code}`);
}

export async function run(): Promise<void> {
  heading(`T1 start-up: /bin/true in a bubblewrap sandbox, start to exit (${RUNS} runs each, interleaved)`);
  const seccompOnly = new BwrapDriver({ t1: { BERTH_T1_CGROUPS: "off" }, owner: "bench" });
  const hardened = new BwrapDriver({ t1: { BERTH_T1_CGROUPS: "on" }, owner: "bench" });
  await seccompOnly.check();
  await hardened.check();
  const variants: [string, (s: SandboxSpec) => Promise<void>][] = [
    ["main (prlimit + bwrap)", (s) => mainStart(hardened, s)],
    ["main + seccomp filter, --disable-userns", (s) => mainStart(hardened, s, true)],
    ["driver, cgroups off (seccomp, setpriv)", (s) => driverStart(seccompOnly, s)],
    ["driver, default (+ per-sandbox cgroup)", (s) => driverStart(hardened, s)],
  ];
  const times = variants.map(() => [] as number[]);
  for (let i = -1; i < RUNS; i++) {
    for (const [v, [, start]] of variants.entries()) {
      const s = spec();
      const t = now();
      await start(s);
      if (i >= 0) times[v]!.push(now() - t); // run -1 warms up each variant
    }
    if ((i + 1) % 10 === 0) progress(`t1-start: ${i + 1}/${RUNS}`);
  }
  const base = median(times[0]!);
  say(
    table([
      ["set-up", "median", "p90", "median vs main"],
      ...variants.map(([name], v) => [name, fmtMs(median(times[v]!)), fmtMs(percentile(times[v]!, 90)), `${(median(times[v]!) / base).toFixed(2)}x`]),
    ]),
  );
}
