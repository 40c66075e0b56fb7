import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startServer, type BerthServer } from "../src/app.js";
import { BerthClient } from "../test/e2e/client.js";
import { startPostgres } from "../test/support/postgres.js";
import { useMinimalHarness } from "../test/e2e/minimal-harness.js";
import { appendAll, sessionRow, withSubscribers } from "./events.js";
import { fmtInt, fmtMs, heading, median, now, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// Several nodes on PostgreSQL, against one node on SQLite, in one run (interleaved):
// 1. events appended on one node and delivered over SSE to 10 subscribers on another node
//    (PostgreSQL), vs appended and delivered on one node (SQLite, and PostgreSQL);
// 2. a turn's overhead when it is posted to a node that does not run the session (the call
//    goes to the owner through the database) vs to the owner;
// 3. takeover: from kill -9 of a node to its session being `interrupted` on another.

const N = Number(process.env.BENCH_SCALE_EVENTS ?? 20_000);
const RUNS = Number(process.env.BENCH_SCALE_RUNS ?? 5);
const TURNS = Number(process.env.BENCH_SCALE_TURNS ?? 40);
const TAKEOVERS = Number(process.env.BENCH_SCALE_TAKEOVERS ?? 3);
const LEASE_MS = 3000;
const SUBSCRIBERS = 10;
const TOKEN = "brt_bench_" + "s".repeat(32);

const quiet = pino({ level: "silent" });

async function node(home: string, env: Record<string, string>, nodeId?: string): Promise<BerthServer> {
  const s = await startServer({
    config: { port: 0, home, harnessCache: process.env.BERTH_HARNESS_CACHE ?? join(tmpdir(), "berth-test-harnesses"), ...(nodeId ? { nodeId } : {}) },
    env: { PATH: process.env.PATH, BERTH_TOKEN: TOKEN, ...env },
    logger: quiet,
  });
  await s.recovered;
  return s;
}

const stats = (xs: number[]) => ({ median: median(xs), p90: percentile(xs, 90) });

export async function run(): Promise<void> {
  heading("Several nodes on PostgreSQL vs one node on SQLite");
  useMinimalHarness();
  const pg = await startPostgres();
  const root = mkdtempSync(join(tmpdir(), "berth-bench-scale-"));
  chmodSync(root, 0o711);
  const sqliteHome = join(root, "sqlite");
  const url = await pg.createDatabase();
  const servers: BerthServer[] = [];
  try {
    const single = await node(sqliteHome, {});
    const a = await node(join(root, "shared"), { BERTH_DATABASE_URL: url, BERTH_NODE_LEASE_MS: String(LEASE_MS) }, "bench-a");
    const b = await node(join(root, "shared"), { BERTH_DATABASE_URL: url, BERTH_NODE_LEASE_MS: String(LEASE_MS) }, "bench-b");
    servers.push(single, a, b);

    // --- 1. events ----------------------------------------------------------------
    const rates: Record<string, number[]> = { sqlite: [], "pg-same": [], "pg-cross": [] };
    const scenarios: [keyof typeof rates, BerthServer, BerthServer][] = [
      ["sqlite", single, single],
      ["pg-same", a, a],
      ["pg-cross", a, b],
    ];
    for (let r = 0; r < RUNS; r++) {
      for (const [name, writer, reader] of scenarios) {
        progress(`scale-out: events run ${r + 1}/${RUNS}, ${name}`);
        const id = `ses_bench_${name.replace("-", "_")}_${r}`;
        await writer.store.insertSession(sessionRow(id, root));
        const sse = await withSubscribers(reader.url, TOKEN, id, SUBSCRIBERS, N, () => appendAll(writer.events, id, N));
        if (sse.rep.events !== N * SUBSCRIBERS) throw new Error(`${name}: delivered ${sse.rep.events} of ${N * SUBSCRIBERS}`);
        rates[name]!.push((N / sse.deliveredMs) * 1000);
      }
    }
    const ev = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, stats(v)]));
    say(`${fmtInt(N)} message.delta events appended through the writer node's EventLog and delivered over SSE to ${SUBSCRIBERS} subscribers (another process) connected to the reader node; ${RUNS} interleaved runs.`);
    say();
    say(
      table([
        ["store", "writer → subscribers' node", "events/s median", "p90 (slowest 10%)", "vs SQLite (median)"],
        ["SQLite (one node)", "same node", fmtInt(ev.sqlite!.median), fmtInt(percentile(rates.sqlite!, 10)), "1.00×"],
        ["PostgreSQL", "same node", fmtInt(ev["pg-same"]!.median), fmtInt(percentile(rates["pg-same"]!, 10)), `${(ev["pg-same"]!.median / ev.sqlite!.median).toFixed(2)}×`],
        ["PostgreSQL", "another node (NOTIFY, then read)", fmtInt(ev["pg-cross"]!.median), fmtInt(percentile(rates["pg-cross"]!, 10)), `${(ev["pg-cross"]!.median / ev.sqlite!.median).toFixed(2)}×`],
      ]),
    );
    say();

    // --- 2. turn overhead through a non-owner ------------------------------------------
    const ca = new BerthClient(a.url, TOKEN);
    const cb = new BerthClient(b.url, TOKEN);
    const s = await ca.createSession({ harness: "minimal" });
    for await (const e of ca.events(s.id)) if (e.type === "session.status" && (e.data as { state?: string }).state === "ready") break;
    const post: Record<"owner" | "other", number[]> = { owner: [], other: [] };
    const turn: Record<"owner" | "other", number[]> = { owner: [], other: [] };
    let after = (await ca.getSession(s.id)).lastSeq;
    for (let i = 0; i < TURNS * 2; i++) {
      const via = i % 2 === 0 ? "owner" : "other";
      progress(`scale-out: turn ${i + 1}/${TURNS * 2} via ${via}`);
      const client = via === "owner" ? ca : cb;
      const t0 = now();
      const t = await client.postTurn(s.id, "go");
      post[via].push(now() - t0);
      for await (const e of client.events(s.id, { after })) {
        after = e.seq;
        if (e.type === "turn.ended" && e.turnId === t.id) break;
      }
      turn[via].push(now() - t0);
    }
    await ca.endSession(s.id);
    const row = (label: string, xs: number[], base: number[]) => [label, fmtMs(median(xs)), fmtMs(percentile(xs, 90)), `${(median(xs) / median(base)).toFixed(2)}×`];
    say(`A minimal ACP agent (20 updates a turn) on node A; ${TURNS} turns posted to A (its owner) and ${TURNS} to B, alternating; each followed over SSE on the node it was posted to.`);
    say();
    say(
      table([
        ["measure", "median", "p90", "vs owner"],
        row("POST /turns answered, via the owner", post.owner, post.owner),
        row("POST /turns answered, via another node", post.other, post.owner),
        row("POST → turn.ended on the stream, via the owner", turn.owner, turn.owner),
        row("POST → turn.ended on the stream, via another node", turn.other, turn.owner),
      ]),
    );
    say();

    // --- 3. takeover after kill -9 -------------------------------------------------------
    const takeovers: number[] = [];
    for (let i = 0; i < TAKEOVERS; i++) {
      progress(`scale-out: takeover ${i + 1}/${TAKEOVERS}`);
      const victim = spawn(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "serve", "--port", "0", "--node-id", `victim-${i}`], {
        env: { PATH: process.env.PATH!, BERTH_HOME: join(root, "shared"), BERTH_TOKEN: TOKEN, BERTH_DATABASE_URL: url, BERTH_NODE_LEASE_MS: String(LEASE_MS), BERTH_HARNESS_CACHE: process.env.BERTH_HARNESS_CACHE ?? join(tmpdir(), "berth-test-harnesses") },
        stdio: ["ignore", "ignore", "pipe"],
      });
      const vurl = await withTimeout(
        new Promise<string>((res) => {
          let err = "";
          victim.stderr!.on("data", (d) => {
            err += d;
            const m = /berth listening on (http:\/\/\S+)/.exec(err);
            if (m) res(m[1]!);
          });
        }),
        30_000,
        "the victim node to listen",
      );
      const vc = new BerthClient(vurl, TOKEN);
      const vs = await vc.createSession({ harness: "pi" });
      for await (const e of vc.events(vs.id)) if (e.type === "session.status" && (e.data as { state?: string }).state === "ready") break;
      victim.kill("SIGKILL");
      const t0 = now();
      while ((await cb.getSession(vs.id)).state !== "interrupted") await new Promise((r) => setTimeout(r, 20));
      takeovers.push(now() - t0);
    }
    say(`A node running a Pi session (T1) killed with SIGKILL; BERTH_NODE_LEASE_MS=${LEASE_MS} (heartbeat every ${LEASE_MS / 3} ms); time until another node reports the session interrupted, ${TAKEOVERS} runs.`);
    say();
    say(
      table([
        ["measure", "median", "p90", "min", "max"],
        ["kill -9 → interrupted on another node", fmtMs(median(takeovers)), fmtMs(percentile(takeovers, 90)), fmtMs(Math.min(...takeovers)), fmtMs(Math.max(...takeovers))],
      ]),
    );
    say();
    say(`Takeover is bounded by the lease (the dead node's last renewal + ${LEASE_MS} ms) plus one heartbeat of the surviving node (${LEASE_MS / 3} ms); the default lease is 15 s.`);
  } finally {
    for (const s of servers) await s.close().catch(() => {});
    await pg.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
