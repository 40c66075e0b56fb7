import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HarnessInstaller } from "../src/harnesses/installer.js";
import { getHarness } from "../src/harnesses/registry.js";
import { fmtInt, fmtMiB, fmtMs, heading, median, now, percentile, progress, REPO, say, table } from "./util.js";

// What the harness-cache integrity check costs per session start (the cheap lstat check,
// in slices as the session boot runs it, and in one go) against a full re-hash of every file
// (`berth harness install --verify`), on the real installs. Warm page cache: repeated runs.
// An install from an older berth is upgraded (hashed, made read-only) by the first ensure().

const HARNESS_CACHE = process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses");
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const HASH_RUNS = Number(process.env.BENCH_HASH_RUNS ?? 5);

async function times(n: number, f: () => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    await f();
    out.push(now() - t);
  }
  return out;
}

export async function run(): Promise<void> {
  heading(`Harness-cache integrity: cheap check per session start vs full re-hash (cache ${HARNESS_CACHE})`);
  const installer = new HarnessInstaller(HARNESS_CACHE);
  const rows = [["harness", "files", "entries checked", "size", "cheap (sliced, as at boot) median / p90", "cheap (one go) median / p90", "full hash median / p90"]];
  for (const id of ["pi", "claude"]) {
    const spec = getHarness(id)!;
    progress(`${id}: ensure (installs or upgrades if needed)`);
    const dir = await installer.ensure(spec, (m) => progress(`${id}: ${m}`));
    const list = installer.list().find((h) => h.dir === dir)!;
    const marker = JSON.parse(readFileSync(join(dir, ".berth-install.json"), "utf8")) as { stats: unknown[] };
    progress(`${id}: ${RUNS} cheap checks (async), ${RUNS} (sync), ${HASH_RUNS} full hashes`);
    const cheap = await times(RUNS, () => installer.verify(spec));
    const sync = await times(RUNS, () => {
      if (installer.check(spec, "stats")) throw new Error(`${id} install is not intact`);
    });
    const full = await times(HASH_RUNS, () => {
      if (installer.check(spec, "hashes")) throw new Error(`${id} install is not intact`);
    });
    const ms = (xs: number[]) => `${fmtMs(median(xs))} / ${fmtMs(percentile(xs, 90))}`;
    rows.push([`${id} ${spec.version}`, fmtInt(list.files), fmtInt(marker.stats.length), fmtMiB(list.bytes), ms(cheap), ms(sync), ms(full)]);
  }
  say(table(rows));
  say();
  say(`_${RUNS} cheap runs and ${HASH_RUNS} full runs per harness, warm page cache. The session boot overlaps the async check with writing the home and starting the egress proxy._`);
}
