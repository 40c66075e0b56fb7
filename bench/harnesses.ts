import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import pino from "pino";
import { AcpAgentConnection } from "../src/acp/agent-connection.js";
import { startServer, type BerthServer } from "../src/app.js";
import { BerthClient } from "../test/e2e/client.js";
import type { BerthEvent } from "../src/events/types.js";
import { claude } from "../src/harnesses/claude.js";
import { codex } from "../src/harnesses/codex.js";
import { HarnessInstaller } from "../src/harnesses/installer.js";
import { pi } from "../src/harnesses/pi.js";
import type { HarnessSpec } from "../src/harnesses/types.js";
import type { ModelApi } from "../src/wire/apis.js";
import type { MockProvider, RecordedRequest } from "../src/mock/index.js";
import { BwrapDriver } from "../src/sandboxes/bwrap.js";
import type { SandboxDriver, Tier } from "../src/sandboxes/types.js";
import { SessionManager } from "../src/sessions/manager.js";
import { runDirect } from "./direct-acp.js";
import { fmtMiB, fmtMs, heading, median, now, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// Per harness (Pi, Claude Code, Codex): cold session ready, one turn, and the peak RSS of
// the sandbox's process tree, through an in-process berth (T1 bubblewrap) against the same
// harness spawned through the same BwrapDriver with the same launch plan and the same
// relay/unix-socket network, driven directly over stdio with the ACP SDK. Both talk to the
// same scripted mock model (one text step: a turn is one model call). The difference is
// berth's overhead; the harness's own time is also subtracted to show berth's time alone.

const RUNS = Number(process.env.BENCH_HARNESS_RUNS ?? 5);
const HARNESS_CACHE = process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses");
const ALL: HarnessSpec[] = [pi, claude, codex];
const HARNESSES: HarnessSpec[] = (process.env.BENCH_HARNESSES ?? "pi,claude,codex").split(",").map((id) => {
  const spec = ALL.find((h) => h.id === id.trim());
  if (!spec) throw new Error(`BENCH_HARNESSES: unknown harness '${id}' (use ${ALL.map((h) => h.id).join(", ")})`);
  return spec;
});
export const API_TOKEN = "brt_bench_" + "t".repeat(32);
export const MODEL = "mock-1";
export const PROMPT = "Say hello.";
/** Unmeasured pause between ready and the turn, in both variants (see session-overhead.ts). */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 300);
/** RSS sampling period. */
const SAMPLE_MS = Number(process.env.BENCH_RSS_MS ?? 50);
export const GATEWAY_CALLS = 40;

// One text step, no tools. berth routes mock-* models to its own in-process mock, so the
// script goes to it (BERTH_MOCK_SCRIPT) and the direct variant calls that same mock.
export const SCRIPT_YAML = `models: [${MODEL}]
steps:
  - text: "Hello from the benchmark."
`;

type Kind = "direct" | "berth";

interface Sample {
  ready: number;
  turn: number;
  /** The harness's own time: driver.start + ACP initialize + session/new (ready); session/prompt (turn). */
  readyHarness: number;
  turnHarness: number;
  /** Peak of the summed VmRSS of the sandbox's processes (bytes), and how many there were then. */
  peakRss: number;
  peakProcs: number;
  peakNames: string[];
  rssSamples: number;
  /** Mock requests in the ready window / in the turn window, split by whether they offered tools (the agent loop) or not (side requests: titles ...). */
  readyCalls: number;
  /** "METHOD path" of the requests in the ready window. */
  readyPaths: string[];
  turnCalls: number;
  turnSide: number;
  phases?: Record<string, number>;
}

// --- RSS sampler: a worker thread, so /proc scans never stall berth's event loop -------------

const SAMPLER_JS = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const { readdirSync, readFileSync } = require("node:fs");
const KEY = "BERTH_SESSION_ID=";
// pid -> { id: string | null, seen: ms }. A pid without the variable is checked again for
// its first half second (a fork that has not exec'd yet still has its parent's environment).
const known = new Map();
const peaks = new Map(); // id -> { rss, procs, samples }
function sessionOf(pid, t) {
  const k = known.get(pid);
  if (k && (k.id !== null || t - k.seen > 500)) return k.id;
  let id = null;
  try {
    const env = readFileSync("/proc/" + pid + "/environ", "latin1");
    const i = env.indexOf(KEY);
    if (i === 0 || (i > 0 && env[i - 1] === "\0")) { const end = env.indexOf("\0", i); id = env.slice(i + KEY.length, end < 0 ? undefined : end); }
  } catch { /* gone, or a kernel thread */ }
  known.set(pid, { id, seen: k ? k.seen : t });
  return id;
}
function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/" + pid + "/status", "latin1"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}
function scan() {
  const t = Date.now();
  const live = new Set();
  const sums = new Map();
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    live.add(pid);
    const id = sessionOf(pid, t);
    if (id === null) continue;
    const s = sums.get(id) || { rss: 0, procs: 0, names: [] };
    s.rss += rss(pid);
    s.procs++;
    try { s.names.push(readFileSync("/proc/" + pid + "/comm", "latin1").trim()); } catch { /* gone */ }
    sums.set(id, s);
  }
  for (const pid of known.keys()) if (!live.has(pid)) known.delete(pid);
  for (const [id, s] of sums) {
    const p = peaks.get(id) || { rss: 0, procs: 0, names: [], samples: 0 };
    p.samples++;
    if (s.rss > p.rss) { p.rss = s.rss; p.procs = s.procs; p.names = s.names; }
    peaks.set(id, p);
  }
}
setInterval(scan, workerData.periodMs);
parentPort.on("message", (m) => {
  if (m.op === "take") {
    scan(); // one last sample before the session is torn down
    const p = peaks.get(m.id) || { rss: 0, procs: 0, names: [], samples: 0 };
    peaks.delete(m.id);
    parentPort.postMessage({ seq: m.seq, ...p });
  }
});
`;

interface Peak {
  rss: number;
  procs: number;
  /** Process names (comm) at the peak. */
  names: string[];
  samples: number;
}

class RssSampler {
  private worker = new Worker(SAMPLER_JS, { eval: true, workerData: { periodMs: SAMPLE_MS } });
  private seq = 0;
  private waiting = new Map<number, (p: Peak) => void>();

  constructor() {
    this.worker.on("message", (m: Peak & { seq: number }) => {
      this.waiting.get(m.seq)?.(m);
      this.waiting.delete(m.seq);
    });
  }

  /** The peak for one BERTH_SESSION_ID since it first appeared; forgets it. */
  take(id: string): Promise<Peak> {
    const seq = ++this.seq;
    return new Promise((r) => {
      this.waiting.set(seq, r);
      this.worker.postMessage({ op: "take", id, seq });
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

// --- phase tracing: wraps berth's own methods (in memory only) to time its steps -------------

/** While `current` is set, each call of a wrapped method records `<name>.start` and `<name>.end` (ms) into it. Shared with session-overhead.ts. */
export class PhaseTracer {
  current: Record<string, number> | undefined;

  wrap(proto: any, method: string, name: string): void {
    const orig = proto[method] as (...a: unknown[]) => unknown;
    const current = () => this.current;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      const t = current();
      const start = now();
      const r = orig.apply(this, args);
      const record = () => {
        if (t) {
          t[`${name}.start`] = start;
          t[`${name}.end`] = now();
        }
      };
      if (r && typeof (r as Promise<unknown>).then === "function") return (r as Promise<unknown>).finally(record);
      record();
      return r;
    };
  }
}

const tracer = new PhaseTracer();
let traced = false;
function installTracing(): void {
  if (traced) return;
  traced = true;
  tracer.wrap(BwrapDriver.prototype, "start", "start");
  tracer.wrap(SessionManager.prototype, "create", "create");
  tracer.wrap(SessionManager.prototype, "postTurn", "postTurn");
  tracer.wrap(AcpAgentConnection.prototype, "initialize", "init");
  tracer.wrap(AcpAgentConnection.prototype, "newSession", "new");
  tracer.wrap(AcpAgentConnection.prototype, "prompt", "prompt");
}

// --- helpers -------------------------------------------------------------------------------

const DEBUG = process.env.BENCH_DEBUG === "1";
function debugRequests(what: string, reqs: RecordedRequest[], from: number, to: number, extra = ""): void {
  if (!DEBUG) return;
  for (const r of reqs.slice(from, to)) progress(`  ${what}: ${r.time} ${r.method} ${r.path} model=${r.model} tools=${r.tools.length} reply=${r.reply} ${extra}`);
}

function countCalls(reqs: RecordedRequest[], from: number, to: number): { main: number; side: number } {
  const w = reqs.slice(from, to);
  const main = w.filter((r) => r.tools.length > 0).length;
  return { main, side: w.length - main };
}

// --- direct: the same harness, the same sandbox driver and launch plan, the ACP SDK ----------

async function runDirectSample(spec: HarnessSpec, driver: SandboxDriver, mock: MockProvider, sampler: RssSampler, root: string, harnessDir: string, n: number): Promise<Sample> {
  const id = `direct-${spec.id}-${n}`;
  let peak: Peak | undefined;
  try {
    const r = await runDirect({
      spec,
      driver,
      tier: "process",
      mock,
      harnessDir,
      dir: join(root, "direct", id),
      id,
      model: MODEL,
      prompt: PROMPT,
      settleMs: SETTLE_MS,
      afterTurn: async () => void (peak = await sampler.take(id)),
    });
    const [r0, r1] = r.readyRequests;
    const [t0, t1] = r.turnRequests;
    debugRequests(`${id} ready`, mock.requests, r0, r1);
    debugRequests(`${id} turn`, mock.requests, t0, t1);
    if (DEBUG) progress(`  ${id} peak ${fmtMiB(peak!.rss)}: ${peak!.names.join(" ")}`);
    const calls = countCalls(mock.requests, t0, t1);
    const readyPaths = mock.requests.slice(r0, r1).map((q) => `${q.method} ${q.path}`);
    return {
      ready: r.ready,
      turn: r.turn,
      readyHarness: r.readyHarness,
      turnHarness: r.turn,
      peakRss: peak!.rss,
      peakProcs: peak!.procs,
      peakNames: peak!.names,
      rssSamples: peak!.samples,
      readyCalls: r1 - r0,
      readyPaths,
      turnCalls: calls.main,
      turnSide: calls.side,
    };
  } finally {
    void sampler.take(id); // drop anything sampled after the peak was taken
  }
}

// --- berth: POST /v1/sessions → ready event, POST turn → turn.ended, over HTTP + SSE ---------

export async function nextMatching(it: AsyncIterator<BerthEvent>, match: (ev: BerthEvent) => boolean, what: string): Promise<BerthEvent> {
  for (;;) {
    const r = await withTimeout(it.next(), 60_000, what);
    if (r.done) throw new Error(`event stream ended before ${what}`);
    const ev = r.value;
    if (ev.type === "session.status" && (ev.data as { state?: string }).state === "failed")
      throw new Error(`session failed: ${String((ev.data as { reason?: string }).reason)}`);
    if (ev.type === "session.error") throw new Error(`error event: ${JSON.stringify(ev.data)}`);
    if (match(ev)) return ev;
  }
}

export interface BerthRun {
  sessionId: string;
  /**
   * When things happened (ms, `now()`): the traced methods' `<name>.start` / `<name>.end`;
   * `ready.start` (POST /v1/sessions sent), `post.end` (its response), `ready.end` (ready
   * event at the client); `turn.start` (POST /turns sent), `postTurn.http` (its response),
   * `turn.end` (turn.ended at the client).
   */
  t: Record<string, number>;
  /** The harness's own time: driver.start + ACP initialize + session/new (ready); ACP session/prompt (turn). */
  readyHarness: number;
  turnHarness: number;
  /** Indices [from, to) into mock.requests: the requests made while getting ready, and during the turn. */
  readyRequests: [number, number];
  turnRequests: [number, number];
}

/**
 * One berth run, the counterpart of direct-acp.ts's runDirect: POST /v1/sessions → ready
 * event, an unmeasured pause, POST turn → turn.ended, over HTTP + SSE, with berth's own
 * methods traced. `afterTurn` runs while the session is still live; the session is ended
 * afterwards.
 */
export async function runBerth(o: {
  client: BerthClient;
  mock: MockProvider;
  tracer: PhaseTracer;
  harness: string;
  tier: Tier;
  prompt: string;
  settleMs: number;
  afterTurn?: (sessionId: string) => Promise<void>;
}): Promise<BerthRun> {
  const { client, mock, tracer } = o;
  const t: Record<string, number> = {};
  tracer.current = t;
  const abort = new AbortController();
  let id: string | undefined;
  try {
    const reqs0 = mock.requests.length;
    t["ready.start"] = now();
    const s = await client.createSession({ harness: o.harness, tier: o.tier, model: MODEL });
    t["post.end"] = now();
    id = s.id;
    const it = client.events(s.id, { signal: abort.signal, reconnect: false })[Symbol.asyncIterator]();
    await nextMatching(it, (ev) => ev.type === "session.status" && (ev.data as { state?: string }).state === "ready", "ready");
    t["ready.end"] = now();
    const readyRequests: [number, number] = [reqs0, mock.requests.length];
    await sleep(o.settleMs);
    const before = mock.requests.length;
    t["turn.start"] = now();
    const turn = await client.postTurn(s.id, o.prompt);
    t["postTurn.http"] = now();
    const ended = await nextMatching(it, (ev) => ev.type === "turn.ended" && ev.turnId === turn.id, "turn.ended");
    t["turn.end"] = now();
    const turnRequests: [number, number] = [before, mock.requests.length];
    if ((ended.data as { stopReason?: string }).stopReason !== "end_turn") throw new Error(`berth turn stopped with ${JSON.stringify(ended.data)}`);
    tracer.current = undefined;
    const readyHarness = t["start.end"]! - t["start.start"]! + (t["new.end"]! - t["init.start"]!);
    const turnHarness = t["prompt.end"]! - t["prompt.start"]!;
    await o.afterTurn?.(s.id);
    return { sessionId: s.id, t, readyHarness, turnHarness, readyRequests, turnRequests };
  } finally {
    tracer.current = undefined;
    abort.abort();
    if (id) await client.endSession(id).catch(() => {});
  }
}

async function runBerthSample(spec: HarnessSpec, berth: BerthServer, client: BerthClient, sampler: RssSampler, after?: (sessionId: string) => Promise<void>): Promise<Sample> {
  const mock = berth.mock;
  let id: string | undefined;
  let peak: Peak | undefined;
  try {
    const r = await runBerth({
      client,
      mock,
      tracer,
      harness: spec.id,
      tier: "process",
      prompt: PROMPT,
      settleMs: SETTLE_MS,
      afterTurn: async (sessionId) => {
        id = sessionId;
        peak = await sampler.take(sessionId);
        if (after) await after(sessionId);
      },
    });
    const { t } = r;
    const [r0, r1] = r.readyRequests;
    const [t0, t1] = r.turnRequests;
    debugRequests(`${r.sessionId} ready`, mock.requests, r0, r1);
    debugRequests(`${r.sessionId} turn`, mock.requests, t0, t1);
    if (DEBUG) progress(`  ${r.sessionId} peak ${fmtMiB(peak!.rss)}: ${peak!.names.join(" ")}`);
    const calls = countCalls(mock.requests, t0, t1);
    const phases: Record<string, number> = {
      "ready: POST sent → driver.start() called": t["start.start"]! - t["ready.start"]!,
      "ready: driver.start()": t["start.end"]! - t["start.start"]!,
      "ready: ACP initialize + session/new": t["new.end"]! - t["init.start"]!,
      "ready: session/new answered → ready event at client": t["ready.end"]! - t["new.end"]!,
      "turn: POST sent → ACP session/prompt sent": t["prompt.start"]! - t["turn.start"]!,
      "turn: ACP session/prompt (incl. gateway hop)": t["prompt.end"]! - t["prompt.start"]!,
      "turn: prompt answered → turn.ended at client": t["turn.end"]! - t["prompt.end"]!,
    };
    return {
      ready: t["ready.end"]! - t["ready.start"]!,
      turn: t["turn.end"]! - t["turn.start"]!,
      readyHarness: r.readyHarness,
      turnHarness: r.turnHarness,
      peakRss: peak!.rss,
      peakProcs: peak!.procs,
      peakNames: peak!.names,
      rssSamples: peak!.samples,
      readyCalls: r1 - r0,
      readyPaths: mock.requests.slice(r0, r1).map((q) => `${q.method} ${q.path}`),
      turnCalls: calls.main,
      turnSide: calls.side,
      phases,
    };
  } finally {
    if (id) void sampler.take(id); // drop anything sampled after the peak was taken
  }
}

// --- the gateway hop on its own, per wire family, inside a live session ---------------------

export type HopRows = string[][];

/** Rows (no header) for one streamed model call straight to berth's mock vs through its gateway, with the token of the live session `sessionId`. */
export async function gatewayHop(berth: BerthServer, sessionId: string, api: ModelApi): Promise<HopRows> {
  const mock = berth.mock;
  const token = berth.gateway.mint(sessionId); // another token of the live session (its scope), revoked with it
  await sleep(500); // let the harness finish its after-turn work first
  const anthropic = api === "anthropic-messages";
  const path = anthropic ? "/v1/messages" : "/v1/responses";
  const body = JSON.stringify(
    anthropic
      ? { model: MODEL, max_tokens: 1024, stream: true, messages: [{ role: "user", content: PROMPT }] }
      : { model: MODEL, stream: true, input: [{ role: "user", content: PROMPT }] },
  );
  const done = anthropic ? "message_stop" : "response.completed";
  const targets = { direct: `${mock.url}${path}`, gateway: `${berth.gateway.baseUrl(api)}${path}` };
  const res = { direct: { ttfb: [] as number[], total: [] as number[] }, gateway: { ttfb: [] as number[], total: [] as number[] } };
  const call = async (k: "direct" | "gateway", keep: boolean) => {
    const t0 = now();
    const r = await fetch(targets[k], {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "x-api-key": token, "anthropic-version": "2023-06-01" },
      body,
    });
    const ttfb = now() - t0;
    const text = await r.text();
    if (r.status !== 200 || !text.includes(done)) throw new Error(`${k} model call (${api}): HTTP ${r.status} ${text.slice(0, 200)}`);
    if (keep) {
      res[k].ttfb.push(ttfb);
      res[k].total.push(now() - t0);
    }
  };
  for (let i = 0; i < 3; i++) for (const k of ["direct", "gateway"] as const) await call(k, false);
  for (let i = 0; i < GATEWAY_CALLS; i++) for (const k of i % 2 ? (["direct", "gateway"] as const) : (["gateway", "direct"] as const)) await call(k, true);
  const rows: HopRows = [];
  for (const m of ["ttfb", "total"] as const) {
    const d = res.direct[m];
    const g = res.gateway[m];
    rows.push([
      `${api}: ${m === "ttfb" ? "response headers" : "full streamed response"}`,
      fmtMs(median(d)),
      fmtMs(median(g)),
      fmtMs(median(g) - median(d)),
      fmtMs(percentile(d, 90)),
      fmtMs(percentile(g, 90)),
    ]);
  }
  return rows;
}

// --- driver --------------------------------------------------------------------------------

/**
 * An in-process berth on `root` with no provider key: mock-* models go to berth's own mock
 * (server.mock), which runs SCRIPT_YAML. berth's real logger setup (info level), written nowhere.
 */
export async function startBenchServer(root: string, env: Record<string, string> = {}): Promise<BerthServer> {
  const scriptPath = join(root, "script.yaml");
  writeFileSync(scriptPath, SCRIPT_YAML);
  return startServer({
    config: { port: 0, home: join(root, "berth"), harnessCache: HARNESS_CACHE },
    env: { PATH: process.env.PATH, BERTH_MOCK_SCRIPT: scriptPath, BERTH_MODEL: MODEL, BERTH_TOKEN: API_TOKEN, ...env },
    logger: pino({ level: "info" }, pino.destination("/dev/null")),
  });
}

export async function run(): Promise<void> {
  heading("Per-harness session cost: berth vs the harness driven directly (T1 bubblewrap)");
  const installer = new HarnessInstaller(HARNESS_CACHE);
  const dirs = new Map<HarnessSpec, string>();
  for (const spec of HARNESSES) dirs.set(spec, await installer.ensure(spec, (m) => progress(`${spec.id}: ${m}`)));
  installTracing();

  const root = mkdtempSync(join(tmpdir(), "berth-bench-harnesses-"));
  chmodSync(root, 0o711); // the sandboxed agent (uid 1000) must reach its workspace and home
  const sampler = new RssSampler();
  let berth: BerthServer | undefined;
  const started = now();
  try {
    berth = await startBenchServer(root);
    const b = berth;
    const client = new BerthClient(b.url, API_TOKEN);
    const driver = new BwrapDriver();
    const samples = new Map<string, Sample[]>();
    const key = (spec: HarnessSpec, kind: Kind) => `${spec.id}/${kind}`;
    for (const spec of HARNESSES) for (const kind of ["direct", "berth"] as Kind[]) samples.set(key(spec, kind), []);
    const failed = new Map<string, string>();
    const hops = new Map<ModelApi, HopRows>();

    const once = (spec: HarnessSpec, kind: Kind, n: number, after?: (id: string) => Promise<void>) =>
      kind === "direct" ? runDirectSample(spec, driver, b.mock, sampler, root, dirs.get(spec)!, n) : runBerthSample(spec, b, client, sampler, after);

    for (let round = -1; round < RUNS; round++) {
      progress(`harnesses: ${round < 0 ? "warm-up (1 berth run per harness, discarded)" : `round ${round + 1}/${RUNS}`} (${((now() - started) / 1000).toFixed(0)} s so far)`);
      for (const spec of HARNESSES) {
        if (failed.has(spec.id)) continue;
        // Alternate which variant goes first, so drift (page cache, CPU frequency, other load) hits both alike.
        // The warm-up is one berth session: it pages in the harness tree and runs every code
        // path the direct variant uses too (driver, ACP SDK, mock), so it warms both.
        const kinds: Kind[] = round < 0 ? ["berth"] : round % 2 ? ["direct", "berth"] : ["berth", "direct"];
        for (const kind of kinds) {
          // The gateway hop is timed once per wire family, inside the last berth session of a harness speaking it.
          const hop =
            round === RUNS - 1 && kind === "berth" && !hops.has(spec.api) ? async (id: string) => void hops.set(spec.api, await gatewayHop(b, id, spec.api)) : undefined;
          try {
            const s = await once(spec, kind, round, hop);
            if (round >= 0) samples.get(key(spec, kind))!.push(s);
          } catch (e) {
            progress(`harnesses: ${spec.id} ${kind} failed: ${(e as Error).message}`);
            failed.set(spec.id, `${kind}: ${(e as Error).message.slice(0, 300)}`);
            break;
          }
        }
      }
    }
    const elapsed = (now() - started) / 1000;

    const ok = HARNESSES.filter((h) => !failed.has(h.id));
    const pair = (spec: HarnessSpec) => ({ d: samples.get(key(spec, "direct"))!, b: samples.get(key(spec, "berth"))! });

    say(
      `${RUNS} runs per harness and variant, interleaved (order alternating per round), after one discarded berth session per harness as warm-up; ` +
        `${SETTLE_MS} ms unmeasured pause between ready and the turn; RSS sampled every ${SAMPLE_MS} ms. Took ${elapsed.toFixed(0)} s.`,
    );
    say();
    say(
      `**direct** = the harness's ACP agent spawned with \`BwrapDriver\` (T1) from the same launch plan (\`spec.launch()\`: command, env, HOME files, managed settings) ` +
        `with the same network setup as berth (loopback-only netns, the in-sandbox relay to a unix socket, here a byte pipe to the mock; berth's egress-proxy forward is not added), ` +
        `driven over stdio with @agentclientprotocol/sdk with berth's client capabilities. **berth** = the same through berth's HTTP API in this process ` +
        `(POST /v1/sessions → \`ready\` session.status on SSE; POST /turns → \`turn.ended\` on SSE), model calls through berth's gateway. ` +
        `Both call berth's mock model (one text step), Anthropic Messages for Pi and Claude Code, OpenAI Responses for Codex.`,
    );
    say();
    say(
      `Peak RSS = the largest sum of VmRSS over every process whose environment has the session's BERTH_SESSION_ID (the outer bwrap, the relay, the ACP adapter and ` +
        `whatever it starts), from spawn to the end of the turn. Shared pages (node's text in several node processes) count once per process.`,
    );
    say();
    const rows: string[][] = [["harness", "metric", "direct median", "berth median", "berth overhead (median)", "direct p90", "berth p90", "overhead p90"]];
    for (const spec of ok) {
      const { d, b: bs } = pair(spec);
      const name = `${spec.id} ${spec.version}`;
      const lat = (label: string, pick: (s: Sample) => number) => {
        const dv = d.map(pick);
        const bv = bs.map(pick);
        const dm = median(dv);
        const bm = median(bv);
        const rel = dm > 50 ? ` (${(((bm - dm) / dm) * 100).toFixed(0)}%)` : "";
        rows.push([name, label, fmtMs(dm), fmtMs(bm), `${fmtMs(bm - dm)}${rel}`, fmtMs(percentile(dv, 90)), fmtMs(percentile(bv, 90)), fmtMs(percentile(bv, 90) - percentile(dv, 90))]);
      };
      lat("cold session ready", (s) => s.ready);
      lat("one turn (1 model call)", (s) => s.turn);
      const dv = d.map((s) => s.peakRss);
      const bv = bs.map((s) => s.peakRss);
      rows.push([
        name,
        "peak RSS, sandbox process tree",
        fmtMiB(median(dv)),
        fmtMiB(median(bv)),
        fmtMiB(median(bv) - median(dv)),
        fmtMiB(percentile(dv, 90)),
        fmtMiB(percentile(bv, 90)),
        fmtMiB(percentile(bv, 90) - percentile(dv, 90)),
      ]);
    }
    say(table(rows));
    for (const [id, why] of failed) say(`\n**${id} failed** (no rows): ${why}`);

    if (ok.length) {
      say();
      say(
        `The harness's own start-up varies by hundreds of ms between runs, so the end-to-end difference is mostly noise. berth's own time, outside the harness ` +
          `(total minus driver.start + ACP initialize + session/new for ready; minus ACP session/prompt for the turn, which in berth includes the gateway hop, timed below):`,
      );
      say();
      const out: string[][] = [["harness", "outside the harness", "direct median", "berth median", "berth overhead (median)", "direct p90", "berth p90"]];
      for (const spec of ok) {
        const { d, b: bs } = pair(spec);
        for (const [label, pick] of [
          ["session ready", (s: Sample) => s.ready - s.readyHarness],
          ["one turn", (s: Sample) => s.turn - s.turnHarness],
        ] as const) {
          const dv = d.map(pick);
          const bv = bs.map(pick);
          out.push([spec.id, label, fmtMs(median(dv)), fmtMs(median(bv)), fmtMs(median(bv) - median(dv)), fmtMs(percentile(dv, 90)), fmtMs(percentile(bv, 90))]);
        }
      }
      say(table(out));

      say();
      const phaseNames = Object.keys(pair(ok[0]!).b[0]!.phases!);
      const ph: string[][] = [["berth phase (median over berth runs)", ...ok.map((s) => s.id)]];
      for (const n of phaseNames) ph.push([n, ...ok.map((spec) => fmtMs(median(pair(spec).b.map((s) => s.phases![n]!))))]);
      say(table(ph));

      say();
      const calls: string[][] = [
        ["harness", "requests to the mock during ready: direct / berth", "model calls per turn: agent loop + side (no tools)", "processes at the median peak: direct / berth", "RSS samples per run"],
      ];
      const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}–${Math.max(...xs)}`);
      const paths = (ss: Sample[]) => {
        const p = [...new Set(ss.flatMap((s) => s.readyPaths))];
        return `${range(ss.map((s) => s.readyCalls))}${p.length ? ` (${p.join(", ")})` : ""}`;
      };
      const names = (ss: Sample[]) => {
        const byPeak = [...ss].sort((x, y) => x.peakRss - y.peakRss);
        const m = byPeak[Math.floor((byPeak.length - 1) / 2)]!;
        const n = new Map<string, number>();
        for (const x of m.peakNames) n.set(x, (n.get(x) ?? 0) + 1);
        return `${m.peakProcs}: ${[...n].map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(" ")}`;
      };
      for (const spec of ok) {
        const { d, b: bs } = pair(spec);
        const all = [...d, ...bs];
        calls.push([
          spec.id,
          `${paths(d)} / ${paths(bs)}`,
          `${range(all.map((s) => s.turnCalls))} + ${range(all.map((s) => s.turnSide))}`,
          `${names(d)} / ${names(bs)}`,
          range(all.map((s) => s.rssSamples)),
        ]);
      }
      say(table(calls));
    }

    if (hops.size) {
      say();
      say(`Gateway hop: one streamed mock model call straight to the mock vs through berth's gateway (token of a live session), ${GATEWAY_CALLS} sequential calls each way, interleaved:`);
      say();
      say(table([["model call", "direct median", "via gateway median", "added median", "direct p90", "via gateway p90"], ...[...hops.values()].flat()]));
    }
  } finally {
    await berth?.close();
    await sampler.close();
    rmSync(root, { recursive: true, force: true });
  }
}
