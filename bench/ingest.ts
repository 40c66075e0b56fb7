// ACP ingest: a harness floods one turn with session/update notifications; how fast do they
// become committed events in the hands of a subscriber? The agent is a real child process
// (bench/agents/flood-agent.mjs) speaking ACP over its stdio, read through berth's own
// AcpAgentConnection, normalised, appended to the EventLog on a SQLite file and delivered to
// a subscriber (the SSE route's listener; the HTTP write itself is measured in `events`).
// Two commit schedules, interleaved run by run: a microtask after each append (berth
// before this change) and setImmediate (now).
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { AcpAgentConnection } from "../src/acp/agent-connection.js";
import { startServer } from "../src/app.js";
import { BerthClient } from "../test/e2e/client.js";
import { normalizeUpdate } from "../src/acp/normalize.js";
import { EventLog } from "../src/events/log.js";
import type { SandboxProcess } from "../src/sandboxes/types.js";
import { Redactor } from "../src/secrets/redact.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { useMinimalHarness } from "../test/e2e/minimal-harness.js";
import { installSandboxAgent, PEER_VERSION, sandboxAgentFlood, type PeerFlood } from "./peer-sandbox-agent.js";
import { fmtInt, heading, median, percentile, progress, REPO, say, table, now } from "./util.js";

const UPDATES = Number(process.env.BENCH_INGEST_UPDATES ?? 20_000);
const RUNS = Number(process.env.BENCH_INGEST_RUNS ?? 5);

type Schedule = "microtask" | "setImmediate";
const SCHEDULES: Record<Schedule, (f: () => void) => void> = { microtask: queueMicrotask, setImmediate };

interface Result {
  ms: number;
  commits: number;
  delivered: number;
}

async function once(schedule: Schedule): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-ingest-"));
  const store = new SqliteStore(join(dir, "berth.db"));
  let commits = 0;
  const insert = store.insertEvents.bind(store);
  store.insertEvents = (evs) => {
    commits++;
    return insert(evs);
  };
  const log = new EventLog(store, new Redactor(), { schedule: SCHEDULES[schedule] });
  const child = spawn(process.execPath, [join(REPO, "bench/agents/flood-agent.mjs")], {
    env: { ...process.env, FLOOD_UPDATES: String(UPDATES) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const sessionId = "ses_ingest";
  let delivered = 0;
  let allDelivered!: () => void;
  const done = new Promise<void>((r) => (allDelivered = r));
  log.subscribe(sessionId, 0, (evs) => {
    delivered += evs.length;
    if (delivered >= UPDATES) allDelivered();
  });
  const conn = new AcpAgentConnection(child as unknown as SandboxProcess, {
    onUpdate: (_sid, u) => {
      const ev = normalizeUpdate(u, "turn_1");
      if (ev) log.append(sessionId, ev);
    },
    onPermission: async () => ({ outcome: { outcome: "cancelled" } }),
  });
  try {
    await conn.initialize();
    const { sessionId: acpSession } = await conn.newSession(dir, []);
    const t0 = now();
    await conn.prompt(acpSession, [{ type: "text", text: "flood" }]);
    await done;
    return { ms: now() - t0, commits, delivered };
  } finally {
    conn.close();
    child.kill();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  if (process.env.BENCH_INGEST_SSE_ONLY === "1") return runOverSse();
  heading(`ACP ingest: ${fmtInt(UPDATES)} session/update notifications in one turn, harness process → committed → subscriber (${RUNS} runs each, interleaved)`);
  const results: Record<Schedule, Result[]> = { microtask: [], setImmediate: [] };
  for (let i = 0; i < RUNS; i++)
    for (const s of Object.keys(SCHEDULES) as Schedule[]) {
      progress(`ingest: ${s} run ${i + 1}/${RUNS}`);
      const r = await once(s);
      if (r.delivered !== UPDATES) throw new Error(`${s}: delivered ${r.delivered} of ${UPDATES} events`);
      results[s].push(r);
    }
  const rate = (r: Result) => (UPDATES / r.ms) * 1000;
  const base = median(results.microtask.map(rate));
  say(
    table([
      ["commit schedule", "updates/s median", "updates/s p10 (slow runs)", "commits per run (median)", "events per commit", "vs microtask"],
      ...(Object.keys(results) as Schedule[]).map((s) => {
        const rates = results[s].map(rate);
        const commits = median(results[s].map((r) => r.commits));
        return [s, fmtInt(median(rates)), fmtInt(percentile(rates, 10)), fmtInt(commits), (UPDATES / commits).toFixed(1), `${(median(rates) / base).toFixed(2)}×`];
      }),
    ]),
  );
  say();
  say(`Every run delivered all ${fmtInt(UPDATES)} events, each committed before delivery.`);
  await runOverSse();
}

/**
 * The whole path through a running berth: the minimal harness (test/e2e/minimal-harness.ts)
 * in a real sandbox answers one turn with UPDATES chunks; one SSE client counts them until
 * `turn.ended`. Measured from POST turn to the last event on the wire.
 */
async function overSse(tier: string): Promise<number[]> {
  const root = mkdtempSync(join(tmpdir(), "berth-bench-ingest-sse-"));
  chmodSync(root, 0o711);
  process.env.MINIMAL_UPDATES = String(UPDATES);
  useMinimalHarness();
  const token = "brt_bench_" + "i".repeat(32);
  const server = await startServer({
    config: { port: 0, home: join(root, "home"), harnessCache: process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses") },
    env: { PATH: process.env.PATH, BERTH_TOKEN: token, BERTH_ALLOW_HOST_TIER: "1" },
    logger: pino({ level: "warn" }, pino.destination(2)),
  });
  const rates: number[] = [];
  try {
    await server.recovered;
    const client = new BerthClient(server.url, token);
    const s = await client.createSession({ harness: "minimal", tier });
    const abort = new AbortController();
    const it = client.events(s.id, { signal: abort.signal })[Symbol.asyncIterator]();
    const next = async () => {
      const n = await it.next();
      if (n.done) throw new Error("the event stream ended");
      return n.value;
    };
    for (let e = await next(); !(e.type === "session.status" && (e.data as { state?: string }).state === "ready"); e = await next());
    for (let i = 0; i < RUNS; i++) {
      progress(`ingest over SSE (${tier}): run ${i + 1}/${RUNS}`);
      const t0 = now();
      const turn = await client.postTurn(s.id, "flood");
      let chunks = 0;
      let lastSeq = 0;
      for (;;) {
        const e = await next();
        if (lastSeq && e.seq !== lastSeq + 1) throw new Error(`event ${lastSeq + 1} missing on the wire`);
        lastSeq = e.seq;
        if (e.type === "message.delta" && e.turnId === turn.id) chunks += ((e.data as { text?: string }).text ?? "").split(";").length - 1;
        if (e.type === "turn.ended" && e.turnId === turn.id) break;
      }
      if (chunks !== UPDATES) throw new Error(`${chunks} of ${UPDATES} chunks arrived`);
      rates.push((UPDATES / (now() - t0)) * 1000);
    }
    abort.abort();
    await client.endSession(s.id);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return rates;
}

export async function runOverSse(): Promise<void> {
  say();
  say(`### The same flood through the API: harness in a sandbox → gateway-less ACP → normalised → committed → SSE → one client; and through sandbox-agent`);
  const rows: string[][] = [["server", "updates/s median", "updates/s p10 (slow runs)", "updates lost (all runs)", "committed before sent"]];
  const tiers = (process.env.BENCH_INGEST_TIERS ?? "host,process").split(",").map((t) => t.trim());
  const peer = installSandboxAgent();
  // Interleaved: one round of each berth tier, then the peer, so both see the same machine.
  const berthRates = new Map<string, number[]>(tiers.map((t) => [t, []]));
  const peerRuns: PeerFlood = { rates: [], lost: [] };
  for (let round = 0; round < 2; round++) {
    for (const tier of tiers) berthRates.get(tier)!.push(...(await overSse(tier)));
    if (peer) {
      const r = await sandboxAgentFlood(peer, UPDATES, RUNS);
      peerRuns.rates.push(...r.rates);
      peerRuns.lost.push(...r.lost);
    }
  }
  for (const [tier, rates] of berthRates) rows.push([`berth, tier ${tier}`, fmtInt(median(rates)), fmtInt(percentile(rates, 10)), "0", "yes (SQLite, WAL)"]);
  if (peer)
    rows.push([
      `sandbox-agent ${PEER_VERSION} (agent on the host)`,
      fmtInt(median(peerRuns.rates)),
      fmtInt(percentile(peerRuns.rates, 10)),
      `${fmtInt(peerRuns.lost.reduce((a, b) => a + b, 0))} of ${fmtInt(UPDATES * peerRuns.lost.length)}`,
      "no (in memory)",
    ]);
  say(table(rows));
  say(
    `Each run: one turn of ${fmtInt(UPDATES)} chunks from the same minimal ACP agent program (test/e2e/minimal-harness.ts). berth: POST turn → every chunk and turn.ended read by one SSE client, every seq checked contiguous. sandbox-agent: session/prompt POSTed to its ACP endpoint → session/update envelopes counted on its SSE stream until it goes quiet. ${RUNS} runs per row per round, 2 rounds interleaved.`,
  );
  if (!peer) say(`> sandbox-agent could not be installed from the npm registry: the peer row is missing.`);
}
