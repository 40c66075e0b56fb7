import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import pino from "pino";
import { startServer } from "../src/app.js";
import type { EventLog } from "../src/events/log.js";
import type { NewEvent } from "../src/events/types.js";
import { redactor } from "../src/secrets/redact.js";
import { SqliteStore } from "../src/store/sqlite.js";
import type { SessionRecord } from "../src/sessions/types.js";
import type { StoredEvent } from "../src/events/store.js";
import { fmtInt, heading, now, progress, REPO, say, table, withTimeout } from "./util.js";

// Event pipeline throughput: events appended through berth's EventLog (real SQLite file,
// WAL) and delivered over real HTTP SSE to 10 subscribers in another process.

const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 10);
/** The producer yields to the event loop after this many appends, so sockets can drain. */
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const TARGET = 100_000; // appended and delivered to 10 subscribers (the instant-sessions issue)
const API_TOKEN = "brt_bench_" + "e".repeat(32);
const TURN = "turn_0bench0000000000000000";

// Streamed-text-sized payloads, like message.delta chunks from a model.
const TEXTS = ["Sure, ", "I'll look at ", "the failing test in ", "src/sessions/manager.ts", " and fix the ", "off-by-one.\n", "Running `npm test` now", "..."];
const eventFor = (i: number): NewEvent => ({ type: "message.delta", turnId: TURN, data: { text: TEXTS[i % TEXTS.length]! } });

export function sessionRow(id: string, home: string): SessionRecord {
  const t = new Date().toISOString();
  return {
    id,
    harness: "pi",
    harnessVersion: "bench",
    model: "mock-1",
    tier: "host",
    workspace: home,
    ownsWorkspace: false,
    state: "ready",
    settings: { permissionPolicy: "allow", permissionTimeoutMs: 1000, mcpServers: [] },
    acpSessionId: null,
    error: null,
    createdAt: t,
    updatedAt: t,
  };
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export async function appendAll(log: EventLog, sessionId: string, n: number): Promise<number> {
  const t0 = now();
  for (let i = 1; i <= n; i++) {
    log.append(sessionId, eventFor(i));
    if (i % BATCH === 0) await yieldToLoop();
  }
  return now() - t0;
}

interface SubscriberReport {
  done: true;
  lastAt: number;
  cpuMs: number;
  reconnects: number;
  bytes: number;
  events: number;
  errors: string[];
}

/**
 * `subscribers` SSE clients in another process follow `sessionId` at `url` (a berth server);
 * once they are connected, `append()` runs, and this resolves when all of them have `n` events.
 */
export async function withSubscribers(url: string, token: string, sessionId: string, subscribers: number, n: number, append: () => Promise<number>) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(REPO, "bench", "sse-subscribers.ts"), url, token, sessionId, String(subscribers), String(n)],
    { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (what: string) => {
    const r = await withTimeout(lines.next(), 120_000, what);
    if (r.done) throw new Error(`subscriber process exited before ${what}`);
    return JSON.parse(r.value as string);
  };
  try {
    await next("subscribers connected");
    const cpu0 = process.cpuUsage();
    const t0 = now();
    const wall0 = performance.timeOrigin + t0;
    const appendMs = await append();
    const rep = (await next("all events delivered")) as SubscriberReport;
    const totalMs = now() - t0;
    const cpu = process.cpuUsage(cpu0);
    // The child's own finish time (same wall clock) is a little earlier than our receipt of its message.
    const deliveredMs = Math.min(totalMs, rep.lastAt - wall0);
    return { appendMs, deliveredMs, serverCpuMs: (cpu.user + cpu.system) / 1000, rep };
  } finally {
    child.kill();
  }
}

/** Per-event cost of each step append() takes, measured one at a time on a scratch store. */
function breakdown(dir: string): string[][] {
  const store = new SqliteStore(join(dir, "scratch.db"));
  const shmDir = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/berth-bench-") : undefined;
  const M = 50_000;
  const datas = Array.from({ length: M }, (_, i) => eventFor(i).data);
  const jsons = datas.map((d) => JSON.stringify(d));
  const time = (f: (i: number) => void) => {
    const t0 = now();
    for (let i = 0; i < M; i++) f(i);
    return ((now() - t0) * 1000) / M;
  };
  const ts = new Date().toISOString();
  let sink = 0;
  let seq = 0;
  const stored = (sessionId: string, seq: number, dataJson: string): StoredEvent => ({ sessionId, seq, ts, turnId: TURN, type: "message.delta", dataJson });
  const rows: [string, number][] = [
    ["new Date().toISOString()", time(() => (sink += new Date().toISOString().length))],
    ["JSON.stringify(data)", time((i) => (sink += JSON.stringify(datas[i]).length))],
    ["redactor.redact(dataJson) — 8 shape regexes + bearer + live values", time((i) => (sink += redactor.redact(jsons[i]!).length))],
    ["store.insertEvents([one]) — one INSERT per transaction (WAL, synchronous=NORMAL)", time((i) => void store.insertEvents([stored("s1", ++seq, jsons[i]!)]))],
    [
      "  same INSERT, 500 per transaction (for comparison)",
      (() => {
        const t0 = now();
        for (let b = 0; b < M; b += 500) void store.insertEvents(Array.from({ length: 500 }, (_, k) => stored("s2", b + k + 1, jsons[b + k]!)));
        return ((now() - t0) * 1000) / M;
      })(),
    ],
    ...(shmDir
      ? ([
          [
            "  same one-INSERT transactions on tmpfs (/dev/shm: no disk, same syscalls)",
            (() => {
              const shm = new SqliteStore(join(shmDir, "scratch.db"));
              let q = 0;
              const t0 = now();
              for (let i = 0; i < M; i++) void shm.insertEvents([stored("s1", ++q, jsons[i]!)]);
              const us = ((now() - t0) * 1000) / M;
              void shm.close();
              rmSync(shmDir, { recursive: true, force: true });
              return us;
            })(),
          ],
        ] as [string, number][])
      : []),
    [
      "toWire() + SSE frame string (built once per batch, shared by every subscriber)",
      time((i) => {
        const json = `{"seq":${i},"ts":"${ts}","sessionId":${JSON.stringify("s1")},"turnId":${JSON.stringify(TURN)},"type":"message.delta","data":${jsons[i]}}`;
        sink += `id: ${i}\nevent: message.delta\ndata: ${json}\n\n`.length;
      }),
    ],
  ];
  void store.close();
  if (sink === 42) say(""); // keep the work observable
  return [["step of EventLog.append (src/events/log.ts)", "µs per event"], ...rows.map(([k, v]) => [k, v.toFixed(2)])];
}

export async function run(): Promise<void> {
  heading("Event pipeline throughput (EventLog → SQLite WAL → SSE)");
  const home = mkdtempSync(join(tmpdir(), "berth-bench-events-"));
  const server = await startServer({
    config: { port: 0, home },
    env: { PATH: process.env.PATH, BERTH_TOKEN: API_TOKEN },
    logger: pino({ level: "info" }, pino.destination("/dev/null")),
  });
  try {
    // The server's own EventLog (the one its SSE route subscribes to).
    const log = server.events;
    for (const id of ["ses_bench_warm", "ses_bench_alone", "ses_bench_sse"]) await server.store.insertSession(sessionRow(id, home));

    progress(`events: warm-up (${fmtInt(N / 10)} appends)`);
    await appendAll(log, "ses_bench_warm", N / 10);

    progress(`events: ${fmtInt(N)} appends, no subscribers`);
    const cpuA = process.cpuUsage();
    const aloneMs = await appendAll(log, "ses_bench_alone", N);
    const cpuAlone = process.cpuUsage(cpuA);

    progress(`events: ${fmtInt(N)} appends delivered to ${SUBSCRIBERS} SSE subscribers`);
    const sse = await withSubscribers(server.url, API_TOKEN, "ses_bench_sse", SUBSCRIBERS, N, () => appendAll(log, "ses_bench_sse", N));
    const stored = await log.lastSeq("ses_bench_sse");

    progress("events: per-step breakdown");
    const steps = breakdown(home);

    const perSec = (ms: number) => (N / ms) * 1000;
    const cpuPct = (ms: number, wall: number) => `${((ms / wall) * 100).toFixed(0)}%`;
    const ok = (x: number) => (x >= TARGET ? "yes" : "**no**");
    say(`${fmtInt(N)} message.delta events (~${Math.round(sse.rep.bytes / SUBSCRIBERS / N)} bytes each on the wire) appended through berth's EventLog`);
    say(`(redact → SQLite INSERT → fan-out) in the server process, yielding to the event loop every ${BATCH} appends;`);
    say(`${SUBSCRIBERS} subscribers read GET /v1/sessions/:id/events (SSE, fetch) in a separate Node process. Target ≥ ${fmtInt(TARGET)}/s.`);
    say();
    say(
      table([
        ["scenario", "wall time", "events/s", `≥ ${fmtInt(TARGET)}/s`, "server CPU", "subscriber CPU"],
        ["append only, no subscribers", `${(aloneMs / 1000).toFixed(2)} s`, fmtInt(perSec(aloneMs)), ok(perSec(aloneMs)), cpuPct((cpuAlone.user + cpuAlone.system) / 1000, aloneMs), "—"],
        [
          `append with ${SUBSCRIBERS} subscribers (append loop only)`,
          `${(sse.appendMs / 1000).toFixed(2)} s`,
          fmtInt(perSec(sse.appendMs)),
          ok(perSec(sse.appendMs)),
          "",
          "",
        ],
        [
          `append + delivered to all ${SUBSCRIBERS} subscribers`,
          `${(sse.deliveredMs / 1000).toFixed(2)} s`,
          fmtInt(perSec(sse.deliveredMs)),
          ok(perSec(sse.deliveredMs)),
          cpuPct(sse.serverCpuMs, sse.deliveredMs),
          cpuPct(sse.rep.cpuMs, sse.deliveredMs),
        ],
      ]),
    );
    say();
    say(
      `Delivered: ${fmtInt(sse.rep.events)} of ${fmtInt(N * SUBSCRIBERS)} (${SUBSCRIBERS} × ${fmtInt(N)}) in order, ${fmtInt(perSec(sse.deliveredMs) * SUBSCRIBERS)} SSE messages/s, ` +
        `${(sse.rep.bytes / 2 ** 20 / (sse.deliveredMs / 1000)).toFixed(1)} MiB/s; stored ${fmtInt(stored)}; ` +
        `reconnects after a slow-subscriber cut-off: ${sse.rep.reconnects}; errors: ${sse.rep.errors.length ? sse.rep.errors.slice(0, 3).join("; ") : "none"}.`,
    );
    say();
    say(table(steps));
    const aloneUs = (aloneMs * 1000) / N;
    const sseUs = (sse.deliveredMs * 1000) / N;
    say();
    say(
      `Per event: ${aloneUs.toFixed(1)} µs appended alone; ${sseUs.toFixed(1)} µs appended and delivered to ${SUBSCRIBERS}, ` +
        `i.e. ~${((sseUs - aloneUs) / SUBSCRIBERS).toFixed(1)} µs more per event per subscriber (src/api/sse.ts send(): one res.write per batch per subscriber, of the batch's shared frame).`,
    );
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}
