import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WorkspaceSnapshots } from "../src/sessions/snapshots.js";
import { fmtMs, heading, median, now, percentile, progress, say, table } from "./util.js";

// What a turn's workspace snapshots cost (sessions/snapshots.ts): a turn takes one at its
// start and one at its end. On a 10,000-file workspace (~40 MB): the first snapshot of a
// session (cold: every file read and hashed), one with nothing changed (the index's stat
// cache skips unchanged files), one after the agent changed 10 files, and the diff of a turn.

const FILES = Number(process.env.BENCH_SNAPSHOT_FILES ?? 10_000);
const RUNS = Number(process.env.BENCH_SNAPSHOT_RUNS ?? 5);

export async function run(): Promise<void> {
  heading(`Workspace snapshots: ${FILES.toLocaleString()} files, per turn`);
  const cold: number[] = [];
  const unchanged: number[] = [];
  const changed: number[] = [];
  const diff: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    progress(`snapshots: run ${r + 1}/${RUNS}`);
    const dir = mkdtempSync(join(tmpdir(), "berth-bench-snap-"));
    const ws = join(dir, "ws");
    for (let d = 0; d < FILES / 100; d++) {
      mkdirSync(join(ws, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(ws, `d${d}`, `f${f}.ts`), `export const v${f} = ${JSON.stringify("x".repeat(4000))};\n`);
    }
    const snaps = new WorkspaceSnapshots(join(dir, "snapshots"));
    const sid = `ses_bench${r}`;
    let t = now();
    await snaps.take(sid, ws, "turns/t0/start");
    cold.push(now() - t);
    t = now();
    await snaps.take(sid, ws, "turns/t0/end");
    unchanged.push(now() - t);
    for (let f = 0; f < 10; f++) writeFileSync(join(ws, `d${f}`, "f0.ts"), `export const changed = ${f};\n`);
    t = now();
    await snaps.take(sid, ws, "turns/t1/end");
    changed.push(now() - t);
    t = now();
    await snaps.diff(sid, "turns/t0/end", "turns/t1/end");
    diff.push(now() - t);
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (what: string, xs: number[]) => [what, fmtMs(median(xs)), fmtMs(percentile(xs, 90))];
  say(`${RUNS} runs, each on a fresh workspace of ${FILES.toLocaleString()} files of 4 KB. A turn pays one snapshot at its start and one at its end (plus the diff when something changed).`);
  say();
  say(
    table([
      ["step", "median", "p90"],
      row("first snapshot of a session (cold)", cold),
      row("snapshot, nothing changed", unchanged),
      row("snapshot after 10 files changed", changed),
      row("diff of that turn", diff),
    ]),
  );
}
