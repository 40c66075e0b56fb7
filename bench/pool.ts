import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BerthServer } from "../src/app.js";
import { BerthClient } from "../test/e2e/client.js";
import type { BerthEvent } from "../src/events/types.js";
import { API_TOKEN, MODEL, PROMPT, startBenchServer } from "./harnesses.js";
import { fmtMs, heading, median, now, percentile, progress, say, table, withTimeout } from "./util.js";

// Warm pool: session ready and first turn, cold vs pool hit, per harness and tier. Two
// in-process berths in one run, the same mock model: one with a pool of one entry for the
// harness × tier, one without. Runs alternate cold, hit, cold, hit; before each hit the
// pool is refilled (unmeasured), so every hit claims an entry that had time to settle.

const RUNS = Number(process.env.BENCH_POOL_RUNS ?? 5);
const HARNESSES = (process.env.BENCH_POOL_HARNESSES ?? "pi,claude").split(",").map((s) => s.trim());
const TIERS = (process.env.BENCH_POOL_TIERS ?? "process,container").split(",").map((s) => s.trim());
/** Unmeasured pause between a cold session's ready and its turn (pi-acp works in the background right after session/new). */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 300);

interface Sample {
  /** POST /v1/sessions → its response. */
  post: number;
  /** POST /v1/sessions → `ready` on SSE. */
  ready: number;
  /** POST turn → `turn.ended`. */
  turn: number;
}

async function waitFor(it: AsyncIterator<BerthEvent>, pred: (e: BerthEvent) => boolean, what: string): Promise<BerthEvent> {
  for (;;) {
    const r = await withTimeout(it.next(), 120_000, what);
    if (r.done) throw new Error(`event stream ended before ${what}`);
    if (pred(r.value)) return r.value;
    if (r.value.type === "session.status" && (r.value.data as { state?: string }).state === "failed") throw new Error(`session failed: ${JSON.stringify(r.value.data)}`);
  }
}

async function once(client: BerthClient, harness: string, tier: string, expect: "hit" | "miss" | undefined): Promise<Sample> {
  const abort = new AbortController();
  let id: string | undefined;
  try {
    const t0 = now();
    const s = await client.createSession({ harness, tier, model: MODEL });
    const post = now() - t0;
    id = s.id;
    if (expect && s.pool?.outcome !== expect) throw new Error(`expected a pool ${expect}, got ${JSON.stringify(s.pool)}`);
    const it = client.events(s.id, { signal: abort.signal, reconnect: false })[Symbol.asyncIterator]();
    await waitFor(it, (e) => e.type === "session.status" && (e.data as { state?: string }).state === "ready", "ready");
    const ready = now() - t0;
    if (expect !== "hit") await sleep(SETTLE_MS);
    const t1 = now();
    const turn = await client.postTurn(s.id, PROMPT);
    const ended = await waitFor(it, (e) => e.type === "turn.ended" && e.turnId === turn.id, "turn.ended");
    if ((ended.data as { stopReason?: string }).stopReason !== "end_turn") throw new Error(`turn stopped with ${JSON.stringify(ended.data)}`);
    return { post, ready, turn: now() - t1 };
  } finally {
    abort.abort();
    if (id) await client.endSession(id).catch(() => {});
  }
}

async function poolFull(server: BerthServer): Promise<void> {
  const t = now();
  while (server.manager.pool.status().some((p) => p.ready < p.size)) {
    if (now() - t > 180_000) throw new Error(`the pool did not fill in 3 min: ${JSON.stringify(server.manager.pool.status())}`);
    await sleep(50);
  }
}

export async function run(): Promise<void> {
  heading("Warm pool: session ready and first turn, cold vs pool hit");
  const rows: string[][] = [["harness", "tier", "start", "POST → response", "POST → ready (median / p90)", "first turn (median / p90)", "ready: cold ÷ hit"]];
  for (const harness of HARNESSES)
    for (const tier of TIERS) {
      const root = mkdtempSync(join(tmpdir(), "berth-bench-pool-"));
      chmodSync(root, 0o711);
      let cold: BerthServer | undefined;
      let pooled: BerthServer | undefined;
      try {
        progress(`pool: ${harness} ${tier}: starting two servers`);
        for (const d of ["cold", "pooled"]) mkdirSync(join(root, d), { mode: 0o711 });
        cold = await startBenchServer(join(root, "cold"));
        pooled = await startBenchServer(join(root, "pooled"), { BERTH_POOLS: `${harness}:${tier}:${MODEL}=1` });
        const coldClient = new BerthClient(cold.url, API_TOKEN);
        const poolClient = new BerthClient(pooled.url, API_TOKEN);
        // One unmeasured cold session each: the harness install and first-run caches.
        await once(coldClient, harness, tier, undefined);
        await poolFull(pooled);
        const samples: Record<"cold" | "hit", Sample[]> = { cold: [], hit: [] };
        for (let i = 0; i < RUNS; i++) {
          progress(`pool: ${harness} ${tier}: run ${i + 1}/${RUNS}`);
          samples.cold.push(await once(coldClient, harness, tier, undefined));
          await poolFull(pooled);
          samples.hit.push(await once(poolClient, harness, tier, "hit"));
        }
        const m = (xs: number[]) => `${fmtMs(median(xs))} / ${fmtMs(percentile(xs, 90))}`;
        for (const kind of ["cold", "hit"] as const) {
          const xs = samples[kind];
          rows.push([
            harness,
            tier,
            kind === "cold" ? "cold (no pool)" : "pool hit",
            fmtMs(median(xs.map((x) => x.post))),
            m(xs.map((x) => x.ready)),
            m(xs.map((x) => x.turn)),
            kind === "hit" ? `${(median(samples.cold.map((x) => x.ready)) / median(xs.map((x) => x.ready))).toFixed(1)}×` : "",
          ]);
        }
      } catch (e) {
        rows.push([harness, tier, `failed: ${(e as Error).message.slice(0, 120)}`, "", "", "", ""]);
      } finally {
        await pooled?.close();
        await cold?.close();
        rmSync(root, { recursive: true, force: true });
      }
    }
  say(`${RUNS} runs per variant, alternating; one unmeasured cold session per server first. Same mock model (one text step).`);
  say(`A cold session's turn starts ${SETTLE_MS} ms after its ready (the pre-created session's first turn); a hit's turn starts at once.`);
  say();
  say(table(rows));
}
