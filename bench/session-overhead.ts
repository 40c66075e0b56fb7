import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { connect, createServer, type Server } from "node:net";
import { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import * as acp from "@agentclientprotocol/sdk";
import pino from "pino";
import { AcpAgentConnection } from "../src/acp/agent-connection.js";
import { startServer, type BerthServer } from "../src/app.js";
import { BerthClient } from "../src/client/client.js";
import { HarnessInstaller } from "../src/harnesses/installer.js";
import { pi } from "../src/harnesses/pi.js";
import type { MockProvider } from "../src/mock/index.js";
import { BwrapDriver } from "../src/sandboxes/bwrap.js";
import { EgressProxy } from "../src/sandboxes/egress-proxy.js";
import { HostDriver } from "../src/sandboxes/host.js";
import { SessionManager } from "../src/sessions/manager.js";
import { writeRelay } from "../src/sandboxes/relay.js";
import { PROTECTED_WORKSPACE_PATHS, type SandboxDriver, type SandboxNet, type Tier } from "../src/sandboxes/types.js";
import { GATEWAY_CALLS, gatewayHop, MODEL, nextMatching, SCRIPT_YAML } from "./harnesses.js";
import { fmtMs, heading, median, now, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// Session ready and one-turn latency through berth (HTTP API + SSE + gateway + store),
// against the same Pi ACP adapter driven directly over stdio with the ACP SDK, in the
// same sandbox driver, against the same mock model (berth's own, which serves mock-* models).
// The difference is berth's overhead.

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const HARNESS_CACHE = process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses");
/** What the direct variant hands the harness as its model key (berth's mock asks for none). */
const DIRECT_KEY = "bench-direct-key-" + "k".repeat(24);
const API_TOKEN = "brt_bench_" + "t".repeat(32);
const PROMPT = "Say hello.";
/**
 * Pause between "ready" and the turn, in both variants. pi-acp does background work right
 * after session/new (it asks pi for its command list); a prompt sent in the same
 * millisecond queues behind it, which would charge that work to whichever variant is
 * quicker to send its prompt. The pause is not part of any measured time.
 */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 300);
/**
 * Sandbox tiers to compare: T1 bubblewrap always; the T0 host-process variant doubles the
 * run time (Pi itself takes seconds to start), so it is opt-in: BENCH_TIERS=process,host.
 */
const TIERS: Tier[] = (process.env.BENCH_TIERS ?? "process").split(",").map((t) => {
  const tier = t.trim() === "t0" ? "host" : t.trim() === "t1" ? "process" : t.trim();
  if (tier !== "process" && tier !== "host") throw new Error(`BENCH_TIERS: unknown tier '${t}' (use process, host)`);
  return tier;
});

// The mock script is SCRIPT_YAML from harnesses.ts: one text step, no tools, so a turn is
// exactly one model call. berth routes mock-* models to its own in-process mock (server.mock),
// so the script goes to it through BERTH_MOCK_SCRIPT and the direct variant calls that same mock.

interface Sample {
  ready: number;
  turn: number;
  /** Time spent in the harness itself: driver.start + ACP initialize + session/new (ready), session/prompt (turn). */
  readyHarness: number;
  turnHarness: number;
  /** Model requests the mock saw during the turn. */
  calls: number;
  phases?: Record<string, number>;
}

type Kind = "direct" | "berth";
interface Variant {
  kind: Kind;
  tier: Tier;
  label: string;
}

// --- phase tracing: wraps berth's own methods (in memory only) to time its steps --------

let trace: Record<string, number> | undefined;

function wrap(proto: any, method: string, name: string): void {
  const orig = proto[method] as (...a: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    const t = trace;
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

function installTracing(): void {
  for (const D of [BwrapDriver, HostDriver]) {
    wrap(D.prototype, "check", "check");
    wrap(D.prototype, "start", "start");
  }
  wrap(HarnessInstaller.prototype, "ensure", "ensure");
  wrap(EgressProxy.prototype, "start", "egress");
  wrap(SessionManager.prototype, "create", "create");
  wrap(SessionManager.prototype, "postTurn", "postTurn");
  wrap(AcpAgentConnection.prototype, "initialize", "init");
  wrap(AcpAgentConnection.prototype, "newSession", "new");
  wrap(AcpAgentConnection.prototype, "prompt", "prompt");
}

// --- direct: the same adapter, the same sandbox driver, the ACP SDK, nothing else --------

async function runDirect(driver: SandboxDriver, tier: Tier, mock: MockProvider, root: string, harnessDir: string, n: number): Promise<Sample> {
  const id = `direct-${tier}-${n}`;
  const dir = join(root, "direct", id);
  const t0 = now();
  const workspace = join(dir, "workspace");
  const home = join(dir, "home");
  mkdirSync(workspace, { recursive: true });
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o711);
  const layout = driver.layout({ workspace, home, harnessDir });
  // Isolated tiers get what berth gives them (sessions/manager.ts boot()): a network
  // namespace with only loopback, where the in-sandbox relay exposes a unix socket on
  // 127.0.0.1:<port>. Here that socket is a plain byte pipe to the mock; in berth it is the
  // model gateway. T0 shares the host network and calls the mock directly.
  let net: SandboxNet | undefined;
  let pipe: Server | undefined;
  if (tier !== "host") {
    const sock = join(dir, "model.sock");
    pipe = createServer((c) => {
      const u = connect(mock.port, "127.0.0.1");
      c.on("error", () => u.destroy());
      u.on("error", () => c.destroy());
      c.pipe(u).pipe(c);
    });
    await new Promise<void>((r) => pipe!.listen(sock, r));
    chmodSync(sock, 0o666);
    net = { forwards: [{ port: mock.port, socket: sock }], relayScript: writeRelay(dir) };
  }
  // The same launch plan berth uses, pointed at the mock instead of the gateway.
  const plan = pi.launch({ layout, model: MODEL, gatewayUrl: `http://127.0.0.1:${mock.port}`, tokenEnv: "BERTH_GATEWAY_TOKEN", token: DIRECT_KEY });
  for (const f of plan.homeFiles) {
    const p = join(home, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content, { mode: f.mode ?? 0o600 });
  }
  const files = (plan.systemFiles ?? []).map((f, i) => {
    const hostPath = join(dir, `system-${i}`);
    writeFileSync(hostPath, f.content, { mode: 0o644 });
    return { path: f.path, hostPath };
  });
  const tStart = now();
  const proc = await driver.start({
    net,
    protect: PROTECTED_WORKSPACE_PATHS,
    files,
    sessionId: id,
    tier,
    workspace,
    home,
    harnessDir,
    command: plan.command,
    env: { ...plan.env, BERTH_GATEWAY_TOKEN: DIRECT_KEY, BERTH_SESSION_ID: id },
  });
  const startMs = now() - tStart;
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const conn = acp
    .client({ name: "bench" })
    .onNotification(acp.methods.client.session.update, () => {})
    .onRequest(acp.methods.client.session.requestPermission, () => ({ outcome: { outcome: "cancelled" as const } }))
    .connect(
      acp.ndJsonStream(
        Writable.toWeb(proc.stdin) as WritableStream<Uint8Array>,
        Readable.toWeb(proc.stdout) as unknown as ReadableStream<Uint8Array>,
      ),
    );
  try {
    const tInit = now();
    await withTimeout(
      conn.agent.request(acp.methods.agent.initialize, {
        protocolVersion: acp.PROTOCOL_VERSION,
        clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
        clientInfo: { name: "bench", version: "0.0.0" },
      }),
      60_000,
      "initialize",
    );
    const s = await withTimeout(conn.agent.request(acp.methods.agent.session.new, { cwd: layout.workspace, mcpServers: [] }), 60_000, "session/new");
    const ready = now() - t0;
    const readyHarness = startMs + (now() - tInit);
    await sleep(SETTLE_MS);
    const before = mock.requests.length;
    const t1 = now();
    const res = await withTimeout(
      conn.agent.request(acp.methods.agent.session.prompt, { sessionId: s.sessionId, prompt: [{ type: "text", text: PROMPT }] }),
      60_000,
      "session/prompt",
    );
    const turn = now() - t1;
    if (res.stopReason !== "end_turn") throw new Error(`direct turn stopped with ${res.stopReason}`);
    return { ready, turn, readyHarness, turnHarness: turn, calls: mock.requests.length - before };
  } catch (e) {
    throw new Error(`direct ${tier} run failed: ${(e as Error).message}; harness stderr: ${stderr.trim().slice(-600)}`, { cause: e });
  } finally {
    conn.close();
    await proc.kill();
    pipe?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- berth: POST /v1/sessions → ready event, POST turn → turn.ended, over HTTP + SSE -------

async function runBerth(client: BerthClient, tier: Tier, mock: MockProvider, after?: (sessionId: string) => Promise<void>): Promise<Sample> {
  const t: Record<string, number> = {};
  trace = t;
  const abort = new AbortController();
  let id: string | undefined;
  try {
    const t0 = now();
    const s = await client.createSession({ harness: "pi", tier, model: MODEL });
    t["post.end"] = now();
    id = s.id;
    const it = client.events(s.id, { signal: abort.signal, reconnect: false })[Symbol.asyncIterator]();
    await nextMatching(it, (ev) => ev.type === "session.status" && (ev.data as { state?: string }).state === "ready", "ready");
    const tReady = now();
    await sleep(SETTLE_MS);
    const before = mock.requests.length;
    const t1 = now();
    const turn = await client.postTurn(s.id, PROMPT);
    t["postTurn.http"] = now();
    const ended = await nextMatching(it, (ev) => ev.type === "turn.ended" && ev.turnId === turn.id, "turn.ended");
    const tTurn = now();
    if ((ended.data as { stopReason?: string }).stopReason !== "end_turn") throw new Error(`berth turn stopped with ${JSON.stringify(ended.data)}`);
    const phases: Record<string, number> = {
      "ready: POST /v1/sessions response (at client)": t["post.end"]! - t0,
      "ready: POST sent → SessionManager.create() entered": t["create.start"]! - t0,
      "ready: SessionManager.create() (synchronous part)": t["create.end"]! - t["create.start"]!,
      "ready: driver.check()": t["check.end"]! - t["check.start"]!,
      "ready: installer.ensure()": t["ensure.end"]! - t["ensure.start"]!,
      "ready: EgressProxy.start() (isolated tiers)": t["egress.end"]! - t["egress.start"]!,
      "ready: driver.start()": t["start.end"]! - t["start.start"]!,
      "ready: ACP initialize": t["init.end"]! - t["init.start"]!,
      "ready: ACP session/new": t["new.end"]! - t["new.start"]!,
      "ready: session/new answered → ready event at client": tReady - t["new.end"]!,
      "turn: POST /turns response (at client)": t["postTurn.http"]! - t1,
      "turn: POST sent → SessionManager.postTurn() entered": t["postTurn.start"]! - t1,
      "turn: postTurn() entered → ACP session/prompt sent": t["prompt.start"]! - t["postTurn.start"]!,
      "turn: ACP session/prompt (incl. gateway hop)": t["prompt.end"]! - t["prompt.start"]!,
      "turn: prompt answered → turn.ended at client": tTurn - t["prompt.end"]!,
    };
    const readyHarness = t["start.end"]! - t["start.start"]! + (t["new.end"]! - t["init.start"]!);
    const turnHarness = t["prompt.end"]! - t["prompt.start"]!;
    const calls = mock.requests.length - before;
    trace = undefined;
    if (after) await after(s.id); // while the session is still live
    return { ready: tReady - t0, turn: tTurn - t1, readyHarness, turnHarness, calls, phases };
  } finally {
    trace = undefined;
    abort.abort();
    if (id) await client.endSession(id).catch(() => {});
  }
}

// --- driver --------------------------------------------------------------------------------

export async function run(): Promise<void> {
  heading("Session overhead: berth vs Pi ACP driven directly");
  const harnessDir = await new HarnessInstaller(HARNESS_CACHE).ensure(pi, (m) => progress(m));
  installTracing();

  const root = mkdtempSync(join(tmpdir(), "berth-bench-session-"));
  chmodSync(root, 0o711); // the sandboxed agent (uid 1000) must reach its workspace and home
  const scriptPath = join(root, "script.yaml");
  writeFileSync(scriptPath, SCRIPT_YAML);
  let berth: BerthServer | undefined;
  try {
    berth = await startServer({
      config: { port: 0, home: join(root, "berth"), harnessCache: HARNESS_CACHE },
      // No provider key: mock-* models go to berth's own mock, running this script.
      env: {
        PATH: process.env.PATH,
        BERTH_MOCK_SCRIPT: scriptPath,
        BERTH_MODEL: MODEL,
        BERTH_TOKEN: API_TOKEN,
        BERTH_ALLOW_HOST_TIER: "1",
      },
      // berth's real logger setup (info level), written nowhere.
      logger: pino({ level: "info" }, pino.destination("/dev/null")),
    });
    const b = berth;
    const mock = b.mock;
    const client = new BerthClient(b.url, API_TOKEN);
    const drivers: Record<string, SandboxDriver> = { process: new BwrapDriver(), host: new HostDriver() };
    const variants: Variant[] = TIERS.flatMap((tier) =>
      (["direct", "berth"] as Kind[]).map((kind) => ({ kind, tier, label: tier === "process" ? "T1 bwrap" : "T0 host" })),
    );
    const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
    const once = (v: Variant, n: number, after?: (sessionId: string) => Promise<void>) =>
      v.kind === "direct" ? runDirect(drivers[v.tier]!, v.tier, mock, root, harnessDir, n) : runBerth(client, v.tier, mock, after);
    // The gateway hop is timed once, inside the last berth session of the first tier: the
    // gateway only serves tokens of live sessions.
    let hop: string[][] | undefined;
    const hopVariant = variants.find((v) => v.kind === "berth")!;
    const timeHop = async (sessionId: string) => {
      progress(`session-overhead: gateway hop (${GATEWAY_CALLS} model calls each way, session ${sessionId})`);
      hop = await gatewayHop(b, sessionId, "anthropic-messages");
    };

    progress(`session-overhead: warm-up (1 run per variant, discarded)`);
    for (const v of variants) await once(v, -1);
    for (let i = 0; i < RUNS; i++) {
      progress(`session-overhead: round ${i + 1}/${RUNS}`);
      // Rotate the order each round so drift (page cache, CPU frequency) hits every variant alike.
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]!;
        samples.get(v)!.push(await once(v, i, i === RUNS - 1 && v === hopVariant ? timeHop : undefined));
      }
    }

    say(`${RUNS} runs per variant after one warm-up each, interleaved; ${SETTLE_MS} ms pause (unmeasured) between ready and the turn.`);
    if (!TIERS.includes("host")) say(`(T1 only; BENCH_TIERS=process,host adds the T0 host-process variant of both, about twice the run time.)`);
    say(`direct = Pi's ACP adapter (pi-acp ${pi.packages[0]!.version}, pi ${pi.version}) spawned through the same sandbox driver with the same launch plan, driven over stdio with @agentclientprotocol/sdk; in T1 with the same network setup as berth (loopback-only netns, in-sandbox relay to a unix socket) whose socket is a byte pipe to the mock.`);
    say(`Both variants call berth's own in-process mock model (one text step, Anthropic Messages).`);
    say(`berth = the same through berth's HTTP API in this process (POST /v1/sessions → 'ready' session.status on SSE; POST /turns → turn.ended on SSE), model calls through berth's gateway.`);
    say();
    say(table(compareRows(variants, samples, (s) => [s.ready, s.turn])));
    const calls = [...samples.values()].flat().map((s) => s.calls);
    say();
    say(`Model calls per turn seen by the mock: min ${Math.min(...calls)}, max ${Math.max(...calls)}.`);
    say();
    say(`Pi's own start-up (seconds of CPU: pi-acp, then \`pi --mode rpc\` in session/new) varies by hundreds of ms from run to run, so the`);
    say(`end-to-end difference above is mostly noise. The same runs with the harness's own time subtracted (driver.start + ACP initialize + session/new`);
    say(`for ready; ACP session/prompt for the turn, which in berth includes the gateway hop) isolate the time spent outside the harness:`);
    say();
    say(table(compareRows(variants, samples, (s) => [s.ready - s.readyHarness, s.turn - s.turnHarness], "outside the harness: ")));

    // Where berth's time goes, from its own methods (medians over the berth runs).
    const berthVariants = variants.filter((v) => v.kind === "berth");
    const phaseRows: string[][] = [["berth phase (median of berth runs; phases overlap, they do not add up)", ...berthVariants.map((v) => v.label)]];
    const bp = berthVariants.map((v) => samples.get(v)!);
    for (const n of Object.keys(bp[0]![0]!.phases!)) phaseRows.push([n, ...bp.map((ss) => fmtMs(median(ss.map((s) => s.phases![n]!))))]);
    say();
    say(table(phaseRows));
    say();
    say(`Gateway hop: one streamed mock model call straight to the mock vs through berth's gateway (token of a live session), ${GATEWAY_CALLS} sequential calls each way, interleaved:`);
    say();
    say(table([["model call", "direct median", "via gateway median", "added median", "direct p90", "via gateway p90"], ...(hop ?? [])]));
  } finally {
    await berth?.close();
    rmSync(root, { recursive: true, force: true });
  }
}

function compareRows(variants: Variant[], samples: Map<Variant, Sample[]>, pick: (s: Sample) => [number, number], prefix = ""): string[][] {
  const rows: string[][] = [["metric", "direct median", "berth median", "overhead median", "direct p90", "berth p90", "overhead p90"]];
  for (const tier of TIERS) {
    const d = samples.get(variants.find((v) => v.kind === "direct" && v.tier === tier)!)!;
    const b = samples.get(variants.find((v) => v.kind === "berth" && v.tier === tier)!)!;
    const label = variants.find((v) => v.tier === tier)!.label;
    for (const [i, name] of ["session ready", "one turn"].entries()) {
      const dv = d.map((s) => pick(s)[i]!);
      const bv = b.map((s) => pick(s)[i]!);
      const dm = median(dv);
      const bm = median(bv);
      const dp = percentile(dv, 90);
      const bpp = percentile(bv, 90);
      const rel = dm > 50 ? ` (${(((bm - dm) / dm) * 100).toFixed(0)}%)` : "";
      rows.push([`${label}: ${prefix}${name}`, fmtMs(dm), fmtMs(bm), `${fmtMs(bm - dm)}${rel}`, fmtMs(dp), fmtMs(bpp), fmtMs(bpp - dp)]);
    }
  }
  return rows;
}
