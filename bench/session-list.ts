import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startServer, type BerthServer } from "../src/app.js";
import { startPostgres } from "../test/support/postgres.js";
import { sessionRow } from "./events.js";
import { fmtInt, fmtMs, heading, median, now, percentile, progress, say, table } from "./util.js";

// GET /v1/sessions (a page of 100, the most it returns) on one node on SQLite and on a node on
// PostgreSQL: each session in the page has a log (message deltas and model calls, whose spend
// the view sums), turns, and a tenth of them are in a live state with no live owner. Requests
// alternate between the stores.

const SESSIONS = Number(process.env.BENCH_LIST_SESSIONS ?? 100);
const EVENTS = Number(process.env.BENCH_LIST_EVENTS ?? 200);
const REQUESTS = Number(process.env.BENCH_LIST_REQUESTS ?? 30);
const TOKEN = "brt_bench_" + "l".repeat(32);

async function seed(s: BerthServer, root: string): Promise<void> {
  for (let i = 0; i < SESSIONS; i++) {
    const id = `ses_list_${String(i).padStart(4, "0")}`;
    await s.store.insertSession({ ...sessionRow(id, root), state: i % 10 === 0 ? "ready" : "ended" });
    for (let t = 0; t < 3; t++)
      await s.store.insertTurn({ id: `turn_${id}_${t}`, sessionId: id, state: "completed", prompt: [], idempotencyKey: null, createdAt: new Date().toISOString() });
    for (let e = 1; e <= EVENTS; e++)
      s.events.append(id, e % 20 === 0 ? { type: "model.call", data: { provider: "mock", status: 200, usage: { inputTokens: 100, outputTokens: 20 }, costUsd: 0.001 } } : { type: "message.delta", data: { text: "hello " } });
  }
  await s.events.flush();
}

export async function run(): Promise<void> {
  heading("GET /v1/sessions: a page of sessions, SQLite vs PostgreSQL");
  const pg = await startPostgres();
  const root = mkdtempSync(join(tmpdir(), "berth-bench-list-"));
  chmodSync(root, 0o711);
  const servers: [string, BerthServer][] = [];
  try {
    const start = (home: string, env: Record<string, string>) =>
      startServer({ config: { port: 0, home }, env: { PATH: process.env.PATH, BERTH_TOKEN: TOKEN, ...env }, logger: pino({ level: "silent" }) });
    servers.push(["SQLite", await start(join(root, "sqlite"), {})]);
    servers.push(["PostgreSQL", await start(join(root, "pg"), { BERTH_DATABASE_URL: await pg.createDatabase() })]);
    for (const [name, s] of servers) {
      progress(`session-list: seeding ${SESSIONS} sessions × ${EVENTS} events (${name})`);
      await s.recovered;
      await seed(s, root);
    }
    const times = new Map<string, number[]>(servers.map(([n]) => [n, []]));
    for (let r = 0; r < REQUESTS; r++)
      for (const [name, s] of servers) {
        const t0 = now();
        const res = await fetch(`${s.url}/v1/sessions?limit=${SESSIONS}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const body = (await res.json()) as { sessions: { spent: { tokens: number } }[] };
        times.get(name)!.push(now() - t0);
        if (body.sessions.length !== SESSIONS || body.sessions.some((x) => x.spent.tokens !== (EVENTS / 20) * 120)) throw new Error(`${name}: the page is wrong`);
      }
    say(`${fmtInt(SESSIONS)} sessions, each with ${EVENTS} events (every 20th a model call) and 3 turns; a tenth in state ready with no live owner. ${REQUESTS} requests per store, alternating.`);
    say();
    const base = median(times.get("SQLite")!);
    say(
      table([
        ["store", "GET /v1/sessions?limit=" + SESSIONS + " median", "p90", "vs SQLite"],
        ...servers.map(([n]) => [n, fmtMs(median(times.get(n)!)), fmtMs(percentile(times.get(n)!, 90)), `${(median(times.get(n)!) / base).toFixed(2)}×`]),
      ]),
    );
  } finally {
    for (const [, s] of servers) await s.close().catch(() => {});
    await pg.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
