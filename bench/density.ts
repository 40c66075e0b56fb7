import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BerthClient } from "../test/e2e/client.js";
import { runConcurrently, type ConcurrencyResult } from "../test/e2e/concurrency.js";
import { fmtMiB, fmtMs, heading, median, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// Concurrency: N sessions at once of a minimal ACP agent (test/e2e/minimal-harness.ts: no
// model, MINIMAL_UPDATES chunks per turn) through one in-process berth with a real SQLite
// file and real sandboxes; per tier and N: errors, lost events, ready and turn p50/p99,
// and the server's RSS before, at its peak and after.

const COUNTS = (process.env.BENCH_DENSITY_SESSIONS ?? "10,50,100,200").split(",").map(Number);
const TIERS = (process.env.BENCH_DENSITY_TIERS ?? "host,process,container").split(",").map((t) => t.trim());
/** minimal (no model), or a real harness on berth's mock model (e.g. pi): its turn's chunks are not counted then. */
const HARNESS = process.env.BENCH_DENSITY_HARNESS ?? "minimal";
const UPDATES = HARNESS === "minimal" ? Number(process.env.MINIMAL_UPDATES ?? 20) : 0;
const HARNESS_CACHE = process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses");
const API_TOKEN = "brt_bench_" + "d".repeat(32);
/** How long after the last session the server's RSS is read again (V8 returns memory some seconds after a burst). */
const AFTER_MS = Number(process.env.BENCH_DENSITY_AFTER_MS ?? 15_000);

/** berth (with the minimal harness) in its own process, so its RSS is its own. */
async function server(root: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  mkdirSync(join(root, "berth"), { recursive: true });
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "bench", "agents", "serve-minimal.ts")], {
    cwd: REPO,
    env: { PATH: process.env.PATH, BERTH_HOME: join(root, "berth"), BERTH_HARNESS_CACHE: HARNESS_CACHE, BERTH_TOKEN: API_TOKEN, BERTH_ALLOW_HOST_TIER: "1", MINIMAL_UPDATES: String(UPDATES), PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /url (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (c) => reject(new Error(`the server exited ${c}`)));
    }),
    60_000,
    "berth start",
  );
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await done;
    },
  };
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
  return Number(/berth_nodejs_heap_size_used_bytes (\d+)/.exec(text)?.[1] ?? NaN);
}

export async function run(): Promise<void> {
  heading(`Concurrency: N sessions at once of ${HARNESS === "minimal" ? "a minimal ACP agent" : HARNESS}, per tier`);
  const rows: string[][] = [["tier", "sessions", "errors", "lost events", "gaps", "ready p50 / p99", "turn p50 / p99", "wall", "server RSS before → peak → after", "server heap used before → after"]];
  for (const tier of TIERS) {
    const root = mkdtempSync(join(tmpdir(), "berth-bench-density-"));
    chmodSync(root, 0o711);
    let s: Awaited<ReturnType<typeof server>> | undefined;
    try {
      s = await server(root);
      const client = new BerthClient(s.url, API_TOKEN);
      // One unmeasured session: the (empty) harness install and first-use caches.
      await runConcurrently(client, { sessions: 1, harness: HARNESS, tier, updates: UPDATES, timeoutMs: 60_000 });
      for (const n of COUNTS) {
        progress(`density: ${tier} × ${n}`);
        await sleep(1000);
        const before = rssOf(s.pid);
        const heapBefore = await heapUsed(s.url);
        let peak = before;
        const pid = s.pid;
        const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
        let r: ConcurrencyResult;
        try {
          r = await runConcurrently(client, { sessions: n, harness: HARNESS, tier, updates: UPDATES, timeoutMs: 300_000 });
        } finally {
          clearInterval(sampler);
        }
        await sleep(AFTER_MS);
        const after = rssOf(s.pid);
        const heapAfter = await heapUsed(s.url);
        const p = (xs: number[]) => (xs.length ? `${fmtMs(median(xs))} / ${fmtMs(percentile(xs, 99))}` : "-");
        rows.push([
          tier,
          String(n),
          String(r.errors.length),
          String(r.lost),
          String(r.gaps),
          p(r.ready),
          p(r.turn),
          fmtMs(r.wallMs),
          `${fmtMiB(before)} → ${fmtMiB(peak)} → ${fmtMiB(after)} (${((after / before - 1) * 100).toFixed(0)}%)`,
          `${fmtMiB(heapBefore)} → ${fmtMiB(heapAfter)}`,
        ]);
        for (const e of r.errors.slice(0, 5)) progress(`  ${e}`);
      }
    } catch (e) {
      rows.push([tier, "", `failed: ${(e as Error).message.slice(0, 150)}`, "", "", "", "", "", "", ""]);
    } finally {
      await s?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
  say(`Each session: POST /v1/sessions, \`ready\` on its SSE stream, one turn of ${UPDATES} message chunks, DELETE. All N at once; one berth process`);
  say("(its own process: bench/agents/serve-minimal.ts), a real SQLite file, T1 bubblewrap and T2 Podman sandboxes. Lost = chunks a turn's events lacked; 'after' is BENCH_DENSITY_AFTER_MS (15 s) after the last session ended.");
  say();
  say(table(rows));
}
