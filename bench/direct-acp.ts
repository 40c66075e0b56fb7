import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type Server } from "node:net";
import { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import * as acp from "@agentclientprotocol/sdk";
import type { HarnessSpec } from "../src/harnesses/types.js";
import type { MockProvider } from "../src/mock/index.js";
import { mkdirForAgent, writeAgentFile } from "../src/sandboxes/agent-owner.js";
import { writeRelay } from "../src/sandboxes/relay.js";
import { PROTECTED_WORKSPACE_PATHS, type SandboxDriver, type SandboxNet, type Tier } from "../src/sandboxes/types.js";
import { now, withTimeout } from "./util.js";

// The "direct" variant of the session benchmarks (session-overhead.ts, harnesses.ts): the
// harness's ACP agent spawned through the same sandbox driver from the same launch plan
// berth uses (spec.launch(): command, env, HOME files, managed settings), with the network
// berth gives the tier, pointed at berth's mock instead of the gateway and driven over
// stdio with the ACP SDK. No berth in between: what berth adds is the difference.

/** What the direct variant hands the harness as its model key (berth's mock asks for none). */
export const DIRECT_KEY = "bench-direct-key-" + "k".repeat(24);

/** The client capabilities berth advertises (acp/agent-connection.ts), so the agent does the same work. */
const CLIENT_CAPABILITIES = { fs: { readTextFile: false, writeTextFile: false }, terminal: false, session: { notices: {} } };

export interface DirectRunOptions {
  spec: HarnessSpec;
  driver: SandboxDriver;
  tier: Tier;
  /** The mock model (berth's own in-process one); the agent calls it on loopback. */
  mock: MockProvider;
  harnessDir: string;
  /** The run's own directory (workspace, home, socket); created, and removed afterwards. */
  dir: string;
  /** The sandbox's BERTH_SESSION_ID, which is how its processes are found (RSS sampling). */
  id: string;
  model: string;
  prompt: string;
  /** Unmeasured pause between ready and the turn. */
  settleMs: number;
  /** Runs after a turn that ended with end_turn, while the harness is still up (e.g. to take its peak RSS). */
  afterTurn?: () => Promise<void>;
}

export interface DirectRun {
  /** From the start of the setup to session/new answered (ms). */
  ready: number;
  /** session/prompt (ms). */
  turn: number;
  /** The harness's own part of `ready`: driver.start + ACP initialize + session/new (ms). */
  readyHarness: number;
  /** Indices [from, to) into mock.requests: the requests made while getting ready, and during the turn. */
  readyRequests: [number, number];
  turnRequests: [number, number];
}

/** One direct run: set up, spawn, ACP initialize + session/new ("ready"), settle, one prompt ("turn"), tear down. */
export async function runDirect(o: DirectRunOptions): Promise<DirectRun> {
  const { dir, id, mock, driver, tier, harnessDir } = o;
  const t0 = now();
  const workspace = join(dir, "workspace");
  const home = join(dir, "home");
  // Made for the agent, as berth makes a session's (berth's drivers chown nothing).
  mkdirSync(dir, { recursive: true });
  mkdirForAgent(workspace, 0o755);
  mkdirForAgent(home, 0o700);
  chmodSync(dir, 0o711);
  const layout = driver.layout({ workspace, home, harnessDir });
  // Isolated tiers get what berth gives them (sessions/manager.ts boot()): a network
  // namespace with only loopback, where the in-sandbox relay exposes a unix socket on
  // 127.0.0.1:<port>. Here that socket is a plain byte pipe to the mock; in berth it is the
  // model gateway. (berth also forwards its per-session egress proxy and sets
  // HTTP(S)_PROXY; not here.) T0 shares the host network and calls the mock directly.
  let net: SandboxNet | undefined;
  let pipe: Server | undefined;
  if (tier !== "host") {
    const sock = join(dir, "model.sock");
    const server = createServer((c) => {
      const u = connect(mock.port, "127.0.0.1");
      c.on("error", () => u.destroy());
      u.on("error", () => c.destroy());
      c.pipe(u).pipe(c);
    });
    pipe = server;
    await new Promise<void>((r) => server.listen(sock, r));
    chmodSync(sock, 0o666);
    net = { forwards: [{ port: mock.port, socket: sock }], relayScript: writeRelay(dir) };
  }
  // The launch plan berth uses, pointed at the mock instead of the gateway. The mock serves
  // every wire family at one URL (Anthropic Messages for Pi and Claude, Responses for Codex).
  const plan = o.spec.launch({ layout, model: o.model, gatewayUrl: `http://127.0.0.1:${mock.port}`, tokenEnv: "BERTH_GATEWAY_TOKEN", token: DIRECT_KEY });
  for (const f of plan.homeFiles) writeAgentFile(home, f.path, f.content, f.mode ?? 0o600);
  const files = (plan.systemFiles ?? []).map((f, i) => {
    const hostPath = join(dir, `system-${i}`);
    writeFileSync(hostPath, f.content, { mode: 0o644 });
    return { path: f.path, hostPath };
  });
  const reqs0 = mock.requests.length;
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
        clientCapabilities: CLIENT_CAPABILITIES,
        clientInfo: { name: "bench", version: "0.0.0" },
      }),
      60_000,
      "initialize",
    );
    const s = await withTimeout(conn.agent.request(acp.methods.agent.session.new, { cwd: layout.workspace, mcpServers: [] }), 60_000, "session/new");
    const ready = now() - t0;
    const readyHarness = startMs + (now() - tInit);
    const readyRequests: [number, number] = [reqs0, mock.requests.length];
    await sleep(o.settleMs);
    const before = mock.requests.length;
    const t1 = now();
    const res = await withTimeout(
      conn.agent.request(acp.methods.agent.session.prompt, { sessionId: s.sessionId, prompt: [{ type: "text", text: o.prompt }] }),
      60_000,
      "session/prompt",
    );
    const turn = now() - t1;
    const turnRequests: [number, number] = [before, mock.requests.length];
    if (res.stopReason !== "end_turn") throw new Error(`direct turn stopped with ${res.stopReason}`);
    await o.afterTurn?.();
    return { ready, turn, readyHarness, readyRequests, turnRequests };
  } catch (e) {
    throw new Error(`${id} run failed: ${(e as Error).message}; harness stderr: ${stderr.trim().slice(-600)}`, { cause: e });
  } finally {
    conn.close();
    await proc.kill();
    pipe?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
