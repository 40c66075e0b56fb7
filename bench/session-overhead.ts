import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AcpAgentConnection } from "../src/acp/agent-connection.js";
import type { BerthServer } from "../src/app.js";
import { BerthClient } from "../test/e2e/client.js";
import { HarnessInstaller } from "../src/harnesses/installer.js";
import { pi } from "../src/harnesses/pi.js";
import type { MockProvider } from "../src/mock/index.js";
import { BwrapDriver } from "../src/sandboxes/bwrap.js";
import { EgressProxy } from "../src/sandboxes/egress/proxy.js";
import { HostDriver } from "../src/sandboxes/host.js";
import { SessionManager } from "../src/sessions/manager.js";
import type { SandboxDriver, Tier } from "../src/sandboxes/types.js";
import { runDirect } from "./direct-acp.js";
import { API_TOKEN, GATEWAY_CALLS, gatewayHop, MODEL, PhaseTracer, PROMPT, runBerth, startBenchServer } from "./harnesses.js";
import { fmtMs, heading, median, percentile, progress, REPO, say, table } from "./util.js";

// Session ready and one-turn latency through berth (HTTP API + SSE + gateway + store),
// against the same Pi ACP adapter driven directly over stdio with the ACP SDK, in the
// same sandbox driver, against the same mock model (berth's own, which serves mock-* models).
// The difference is berth's overhead.

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const HARNESS_CACHE = process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses");
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

const tracer = new PhaseTracer();

function installTracing(): void {
  for (const D of [BwrapDriver, HostDriver]) {
    tracer.wrap(D.prototype, "check", "check");
    tracer.wrap(D.prototype, "start", "start");
  }
  tracer.wrap(HarnessInstaller.prototype, "ensure", "ensure");
  tracer.wrap(EgressProxy.prototype, "start", "egress");
  tracer.wrap(SessionManager.prototype, "create", "create");
  tracer.wrap(SessionManager.prototype, "postTurn", "postTurn");
  tracer.wrap(AcpAgentConnection.prototype, "initialize", "init");
  tracer.wrap(AcpAgentConnection.prototype, "newSession", "new");
  tracer.wrap(AcpAgentConnection.prototype, "prompt", "prompt");
}

// --- direct: the same adapter, the same sandbox driver, the ACP SDK, nothing else --------

async function runDirectSample(driver: SandboxDriver, tier: Tier, mock: MockProvider, root: string, harnessDir: string, n: number): Promise<Sample> {
  const id = `direct-${tier}-${n}`;
  const r = await runDirect({ spec: pi, driver, tier, mock, harnessDir, dir: join(root, "direct", id), id, model: MODEL, prompt: PROMPT, settleMs: SETTLE_MS });
  const [from, to] = r.turnRequests;
  return { ready: r.ready, turn: r.turn, readyHarness: r.readyHarness, turnHarness: r.turn, calls: to - from };
}

// --- berth: POST /v1/sessions → ready event, POST turn → turn.ended, over HTTP + SSE -------

async function runBerthSample(client: BerthClient, tier: Tier, mock: MockProvider, after?: (sessionId: string) => Promise<void>): Promise<Sample> {
  const r = await runBerth({ client, mock, tracer, harness: "pi", tier, prompt: PROMPT, settleMs: SETTLE_MS, afterTurn: after });
  const { t } = r;
  const [t0, t1, tReady, tTurn] = [t["ready.start"]!, t["turn.start"]!, t["ready.end"]!, t["turn.end"]!];
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
  const [from, to] = r.turnRequests;
  return { ready: tReady - t0, turn: tTurn - t1, readyHarness: r.readyHarness, turnHarness: r.turnHarness, calls: to - from, phases };
}

// --- driver --------------------------------------------------------------------------------

export async function run(): Promise<void> {
  heading("Session overhead: berth vs Pi ACP driven directly");
  const harnessDir = await new HarnessInstaller(HARNESS_CACHE).ensure(pi, (m) => progress(m));
  installTracing();

  const root = mkdtempSync(join(tmpdir(), "berth-bench-session-"));
  chmodSync(root, 0o711); // the sandboxed agent (uid 1000) must reach its workspace and home
  let berth: BerthServer | undefined;
  try {
    berth = await startBenchServer(root, { BERTH_ALLOW_HOST_TIER: "1" });
    const b = berth;
    const mock = b.mock;
    const client = new BerthClient(b.url, API_TOKEN);
    const drivers: Record<string, SandboxDriver> = { process: new BwrapDriver(), host: new HostDriver() };
    const variants: Variant[] = TIERS.flatMap((tier) =>
      (["direct", "berth"] as Kind[]).map((kind) => ({ kind, tier, label: tier === "process" ? "T1 bwrap" : "T0 host" })),
    );
    const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
    const once = (v: Variant, n: number, after?: (sessionId: string) => Promise<void>) =>
      v.kind === "direct" ? runDirectSample(drivers[v.tier]!, v.tier, mock, root, harnessDir, n) : runBerthSample(client, v.tier, mock, after);
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
    say(`direct = Pi's ACP adapter (pi-acp ${pi.packages[0]!.version}, pi ${pi.version}) spawned through the same sandbox driver with the same launch plan, driven over stdio with @agentclientprotocol/sdk with berth's client capabilities; in T1 with the same network setup as berth (loopback-only netns, in-sandbox relay to a unix socket) whose socket is a byte pipe to the mock.`);
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
