import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { EventLog } from "../../src/events/log.js";
import type { BerthEvent } from "../../src/events/types.js";
import { ModelGateway } from "../../src/gateway/gateway.js";
import type { HarnessInstaller } from "../../src/harnesses/installer.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { SandboxDrivers, type SandboxDriver, type SandboxProcess, type SandboxSpec } from "../../src/sandboxes/index.js";
import { Redactor } from "../../src/secrets/redact.js";
import { SessionManager } from "../../src/sessions/manager.js";
import type { PoolSettings } from "../../src/sessions/pool-config.js";
import { SqliteStore } from "../../src/store/sqlite.js";

// The session manager's state machine without a harness install or a sandbox: a fake
// driver whose "process" is an in-memory ACP agent (the SDK's agent side, over in-process
// streams), scripted per test.

/** What the scripted agent does with a prompt; `send` pushes session/update notifications. */
type PromptScript = (ctx: {
  prompt: string;
  send(update: acp.SessionUpdate): Promise<void>;
  client: acp.AgentContext;
  sessionId: string;
  cancelled: Promise<void>;
  crash(): void;
}) => Promise<acp.StopReason>;

interface Agent {
  /** "start" per sandbox started, "new" per ACP session/new answered, in order. */
  log: string[];
  prompts: string[];
  loads: string[];
  script: PromptScript;
  /** What the agent does right after answering session/new (before any claim, for a pool entry). */
  afterNew?: (client: acp.AgentContext, sessionId: string) => Promise<void>;
}

/** A sandbox driver whose process is an in-memory ACP agent. */
function fakeDriver(agent: Agent): SandboxDriver {
  let n = 0;
  let sandboxes = 0;
  return {
    name: "fake",
    tiers: ["process"],
    check: async () => {},
    layout: () => ({ workspace: "/workspace", home: "/home/agent", harnessRoot: "/opt/harness", node: "node" }),
    reap: async () => {},
    async start(_spec: SandboxSpec): Promise<SandboxProcess> {
      agent.log.push("start");
      const toAgent = new PassThrough();
      const fromAgent = new PassThrough();
      const stderr = new PassThrough();
      let exit!: (x: { code: number | null; signal: NodeJS.Signals | null }) => void;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (exit = r));
      const cancels = new Map<string, () => void>();
      const app = acp
        .agent({ name: "fake-agent" })
        .onRequest(acp.methods.agent.initialize, () => ({
          protocolVersion: acp.PROTOCOL_VERSION,
          agentCapabilities: { loadSession: true },
          agentInfo: { name: "fake-agent", version: "1" },
        }))
        .onRequest(acp.methods.agent.session.new, async ({ client }) => {
          // A harness's session/new takes a while (Pi: ~1.5 s); here a few ticks.
          await new Promise((r) => setTimeout(r, 5));
          agent.log.push("new");
          const sessionId = `acp_${++n}`;
          if (agent.afterNew) setTimeout(() => void agent.afterNew!(client, sessionId), 0);
          return { sessionId };
        })
        .onRequest(acp.methods.agent.session.load, ({ params }) => {
          agent.loads.push(params.sessionId);
          return {};
        })
        .onNotification(acp.methods.agent.session.cancel, ({ params }) => cancels.get(params.sessionId)?.())
        .onRequest(acp.methods.agent.session.prompt, async ({ params, client }) => {
          const prompt = params.prompt.map((b) => (b.type === "text" ? b.text : "")).join("");
          agent.prompts.push(prompt);
          const cancelled = new Promise<void>((r) => cancels.set(params.sessionId, r));
          const stopReason = await agent.script({
            prompt,
            client,
            sessionId: params.sessionId,
            cancelled,
            send: (update) => client.notify(acp.methods.client.session.update, { sessionId: params.sessionId, update }),
            crash: () => {
              conn.close();
              exit({ code: 137, signal: null });
            },
          });
          return { stopReason };
        });
      const conn = app.connect(acp.ndJsonStream(Writable.toWeb(fromAgent) as WritableStream<Uint8Array>, Readable.toWeb(toAgent) as unknown as ReadableStream<Uint8Array>));
      return {
        id: `sbx_${++sandboxes}`,
        driver: "fake",
        pid: 0,
        ref: null,
        stdin: toAgent,
        stdout: fromAgent,
        stderr,
        child: undefined as any,
        exited,
        kill: async () => {
          conn.close();
          exit({ code: null, signal: "SIGKILL" });
        },
      };
    },
  };
}

const text = (t: string): acp.SessionUpdate => ({ sessionUpdate: "agent_message_chunk", content: { type: "text", text: t } });

let managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.map((m) => m.shutdown()));
  managers = [];
});

function setup(script: PromptScript, home = mkdtempSync(join(tmpdir(), "berth-mgr-")), pools?: PoolSettings, env: NodeJS.ProcessEnv = {}) {
  const agent: Agent = { log: [], prompts: [], loads: [], script };
  // Every sandbox the driver is asked for, with what it was given.
  const starts: SandboxSpec[] = [];
  const driver = fakeDriver(agent);
  const start = driver.start.bind(driver);
  driver.start = (spec) => {
    starts.push(spec);
    return start(spec);
  };
  const config = loadConfig({ home, harnessCache: join(home, "harnesses") }, env);
  mkdirSync(join(home, "workspaces"), { recursive: true });
  mkdirSync(join(home, "harnesses"), { recursive: true });
  const redactor = new Redactor();
  const store = new SqliteStore(config.dbPath);
  const events = new EventLog(store, redactor);
  const installer = { ensure: async () => join(home, "harnesses"), verify: async () => {} } as unknown as HarnessInstaller;
  const manager = new SessionManager({
    config,
    store,
    events,
    installer,
    drivers: new SandboxDrivers([driver]),
    gateway: new ModelGateway({ redactor }),
    redactor,
    logger: pino({ level: "silent" }),
    defaultModel: "mock-1",
    providers: () => ProviderRegistry.load({ env: {}, mockUrl: "http://127.0.0.1:9" }),
    ...(pools ? { pools } : {}),
  });
  managers.push(manager);
  return { manager, events, agent, home, store, starts };
}

/** Resolves with the session's events once `until` matches one. */
function waitFor(events: EventLog, id: string, until: (e: BerthEvent) => boolean): Promise<BerthEvent[]> {
  return new Promise((resolve, reject) => {
    const all: BerthEvent[] = [];
    const t = setTimeout(() => reject(new Error(`timed out; saw ${all.map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 300)}`).join("\n")}`)), 5000);
    const off = events.subscribe(id, 0, (evs) => {
      for (const e of evs) {
        all.push(JSON.parse(e.json));
        if (until(all.at(-1)!)) {
          clearTimeout(t);
          queueMicrotask(() => off());
          return resolve(all);
        }
      }
    });
  });
}
const state = (s: string) => (e: BerthEvent) => e.type === "session.status" && (e.data as any).state === s;
const ended = (turnId: string) => (e: BerthEvent) => e.type === "turn.ended" && e.turnId === turnId;

describe("SessionManager", () => {
  it("runs queued turns one at a time, in the order posted, each ending once", async () => {
    const { manager, events, agent } = setup(async ({ prompt, send }) => {
      await send(text(`re: ${prompt}`));
      return "end_turn";
    });
    const s = await manager.create({ harness: "pi" });
    // Posted while the session is still starting: they queue.
    const turns = await Promise.all(["one", "two", "three"].map(async (p) => (await manager.postTurn(s.id, { prompt: p })).turn));
    const evs = await waitFor(events, s.id, ended(turns[2]!.id));
    expect(agent.prompts).toEqual(["one", "two", "three"]);
    const order = evs.filter((e) => e.type === "turn.started" || e.type === "turn.ended").map((e) => `${e.type}:${e.turnId}`);
    expect(order).toEqual(turns.flatMap((t) => [`turn.started:${t.id}`, `turn.ended:${t.id}`]));
    expect(evs.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text)).toEqual(["re: one", "re: two", "re: three"]);
    expect((await manager.turns(s.id)).map((t) => [t.state, t.stopReason])).toEqual([
      ["completed", "end_turn"],
      ["completed", "end_turn"],
      ["completed", "end_turn"],
    ]);
  });

  it("cancels the running turn; the queued one still runs", async () => {
    const { manager, events } = setup(async ({ prompt, cancelled }) => {
      if (prompt !== "long") return "end_turn";
      await cancelled;
      return "cancelled";
    });
    const s = await manager.create({ harness: "pi" });
    const long = (await manager.postTurn(s.id, { prompt: "long" })).turn;
    const next = (await manager.postTurn(s.id, { prompt: "next" })).turn;
    await waitFor(events, s.id, (e) => e.type === "turn.started" && e.turnId === long.id);
    expect(await manager.cancel(s.id)).toEqual({ turnId: long.id });
    const evs = await waitFor(events, s.id, ended(next.id));
    expect(evs.find(ended(long.id))!.data).toEqual({ stopReason: "cancelled" });
    expect(evs.find(ended(next.id))!.data).toEqual({ stopReason: "end_turn" });
    await expect(manager.cancel(s.id)).rejects.toMatchObject({ code: "no_running_turn" });
  });

  it("asks the caller under the ask policy and gives the harness the chosen option", async () => {
    let chosen: unknown;
    const { manager, events } = setup(async ({ client, sessionId }) => {
      const res = await client.request(acp.methods.client.session.requestPermission, {
        sessionId,
        toolCall: { toolCallId: "tc1", title: "rm -rf build", kind: "execute" },
        options: [
          { optionId: "yes", name: "Allow", kind: "allow_once" },
          { optionId: "no", name: "Deny", kind: "reject_once" },
        ],
      });
      chosen = res.outcome;
      return "end_turn";
    });
    const s = await manager.create({ harness: "claude", permissionPolicy: "ask" });
    const t = (await manager.postTurn(s.id, { prompt: "go" })).turn;
    const upTo = await waitFor(events, s.id, (e) => e.type === "permission.requested");
    const req = upTo.at(-1)!.data as any;
    expect(req).toMatchObject({ policy: "ask", toolCall: { toolCallId: "tc1", kind: "execute" } });
    await expect(manager.answerPermission(s.id, req.permissionId, { optionId: "maybe" })).rejects.toThrow(/not one of yes, no/);
    await manager.answerPermission(s.id, req.permissionId, { decision: "deny" });
    const evs = await waitFor(events, s.id, ended(t.id));
    expect(chosen).toEqual({ outcome: "selected", optionId: "no" });
    expect(evs.find((e) => e.type === "permission.resolved")!.data).toMatchObject({ permissionId: req.permissionId, by: "client", kind: "reject_once" });
  });

  it("ending a session during a pending permission resolves it before the turn ends", async () => {
    const { manager, events } = setup(async ({ client, sessionId }) => {
      await client.request(acp.methods.client.session.requestPermission, {
        sessionId,
        toolCall: { toolCallId: "tc1", title: "x" },
        options: [{ optionId: "yes", name: "Allow", kind: "allow_once" }],
      });
      return "end_turn";
    });
    const s = await manager.create({ harness: "claude", permissionPolicy: "ask" });
    const t = (await manager.postTurn(s.id, { prompt: "go" })).turn;
    await waitFor(events, s.id, (e) => e.type === "permission.requested");
    await manager.end(s.id);
    const evs = (await events.read(s.id, 0)).map((e) => JSON.parse(e.json) as BerthEvent);
    const resolved = evs.findIndex((e) => e.type === "permission.resolved");
    expect(resolved).toBeGreaterThan(-1);
    expect(evs.findIndex(ended(t.id))).toBeGreaterThan(resolved);
    expect(evs.find(ended(t.id))!.data).toEqual({ stopReason: "cancelled" });
    expect((await manager.get(s.id)).state).toBe("ended");
  });

  it("fails the session when the harness dies mid-turn: the turn and the queue end, nothing runs after", async () => {
    const { manager, events, agent } = setup(async ({ prompt, crash }) => {
      if (prompt === "crash") crash();
      return new Promise<acp.StopReason>(() => {});
    });
    const s = await manager.create({ harness: "pi" });
    const t = (await manager.postTurn(s.id, { prompt: "crash" })).turn;
    const queued = (await manager.postTurn(s.id, { prompt: "never" })).turn;
    const evs = await waitFor(events, s.id, state("failed"));
    expect(evs.find(ended(t.id))!.data).toEqual({ stopReason: "error" });
    expect(evs.some((e) => e.type === "session.error")).toBe(true);
    expect((await manager.turns(s.id)).map((x) => [x.id, x.state])).toEqual([
      [t.id, "failed"],
      [queued.id, "failed"],
    ]);
    expect(agent.prompts).toEqual(["crash"]);
    await expect(manager.postTurn(s.id, { prompt: "more" })).rejects.toThrow();
  });

  it("after a shutdown the session is interrupted, and resume reloads the harness's own session", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-mgr-"));
    const first = setup(async () => "end_turn", home);
    const s = await first.manager.create({ harness: "pi" });
    await waitFor(first.events, s.id, state("ready"));
    const acpId = (await first.store.getSession(s.id))!.acpSessionId;
    expect(acpId).toMatch(/^acp_/);
    await first.manager.shutdown();
    expect((await first.manager.get(s.id)).state).toBe("interrupted");
    // As the server's close() does: commit what is queued, then close the store.
    await first.events.close();
    await first.store.close();

    const second = setup(async () => "end_turn", home);
    expect(await second.manager.recover()).toBe(0);
    await second.manager.resume(s.id);
    const evs = await waitFor(second.events, s.id, (e) => state("ready")(e) && (e.data as any).resumed === true);
    expect(second.agent.loads).toEqual([acpId]);
    // Numbering continues where the first process left off: no gap, no repeat.
    const seqs = (await second.events.read(s.id, 0)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(evs.at(-1)!.data).toMatchObject({ state: "ready", resumed: true });
  });
});

describe("SessionManager start slots", () => {
  it("with BERTH_MAX_CONCURRENT_STARTS=1 a burst starts one sandbox at a time, each after the previous handshake, and all get ready", async () => {
    const { manager, events, agent } = setup(async () => "end_turn", undefined, undefined, { BERTH_MAX_CONCURRENT_STARTS: "1" });
    const ids = await Promise.all([0, 1, 2].map(async () => (await manager.create({ harness: "pi" })).id));
    const waits = await Promise.all(ids.map((id) => waitFor(events, id, state("ready"))));
    expect(agent.log).toEqual(["start", "new", "start", "new", "start", "new"]);
    // The ones that waited said so.
    expect(waits.flat().some((e) => e.type === "session.status" && String((e.data as any).detail ?? "").startsWith("waiting for a start slot"))).toBe(true);
  });

  it("without a limit the same burst starts every sandbox at once", async () => {
    const { manager, events, agent } = setup(async () => "end_turn", undefined, undefined, { BERTH_MAX_CONCURRENT_STARTS: "0" });
    const ids = await Promise.all([0, 1, 2].map(async () => (await manager.create({ harness: "pi" })).id));
    await Promise.all(ids.map((id) => waitFor(events, id, state("ready"))));
    expect(agent.log.slice(0, 3)).toEqual(["start", "start", "start"]);
  });
});

describe("SessionManager with a warm pool", () => {
  const pools: PoolSettings = { pools: [{ name: "pi:process:mock-1", harness: "pi", tier: "process", model: "mock-1", size: 2, maxIdleMs: 0 }], refillConcurrency: 2, refillDelayMs: 0 };
  const full = async (manager: SessionManager, ready = 2) => {
    for (let i = 0; i < 200 && manager.pool.status()[0]!.ready < ready; i++) await new Promise((r) => setTimeout(r, 10));
    expect(manager.pool.status()[0]!.ready).toBe(ready);
  };

  it("a hit is ready in the create call without the driver starting anything, and runs its turns", async () => {
    const { manager, events, starts, agent } = setup(async ({ prompt, send }) => {
      await send(text(`re: ${prompt}`));
      return "end_turn";
    }, undefined, pools);
    manager.startPools();
    await full(manager);
    expect(starts).toHaveLength(2);
    // Pooled sandboxes carry no session identity and no credential.
    for (const spec of starts) {
      expect(spec.env.BERTH_SESSION_ID).toBeUndefined();
      expect(spec.env.BERTH_POOL_ENTRY).toMatch(/^pool_/);
      expect(spec.sessionId).toMatch(/^pool_/);
    }
    const s = await manager.create({ harness: "pi", network: { allow: ["example.com"] } });
    expect(starts).toHaveLength(2);
    expect(s.state).toBe("ready");
    expect(s.settings.pool).toEqual({ outcome: "hit", pool: "pi:process:mock-1" });
    const t = (await manager.postTurn(s.id, { prompt: "hello" })).turn;
    const evs = await waitFor(events, s.id, ended(t.id));
    expect(agent.prompts).toEqual(["hello"]);
    expect(evs.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text)).toEqual(["re: hello"]);
    // The pool refills to its size in the background, and no further.
    await full(manager);
    await new Promise((r) => setTimeout(r, 50));
    expect(starts).toHaveLength(3);
    expect(manager.pool.status()[0]).toMatchObject({ ready: 2, starting: 0 });
  });

  it("starts cold, saying why, what the pool cannot serve, and an empty pool is a miss", async () => {
    const { manager, starts } = setup(async () => "end_turn", undefined, { ...pools, pools: [{ ...pools.pools[0]!, size: 1 }] });
    manager.startPools();
    await full(manager, 1);
    const asked = [
      [{ systemPrompt: "be brief" }, "system_prompt"],
      [{ mcpServers: [{ name: "x", command: "/bin/true", args: [], env: [] }] }, "mcp_servers"],
      [{ writablePaths: [".git/hooks"] }, "writable_paths"],
      [{ model: "mock-2" }, "model"],
    ] as const;
    for (const [extra, reason] of asked) {
      const s = await manager.create({ harness: "pi", ...extra } as never);
      expect(s.settings.pool, reason).toEqual({ outcome: "miss", reason });
      expect(s.state).toBe("starting");
    }
    expect((await manager.create({ harness: "pi" })).settings.pool).toEqual({ outcome: "hit", pool: "pi:process:mock-1" });
    expect((await manager.create({ harness: "pi" })).settings.pool).toEqual({ outcome: "miss", reason: "empty", pool: "pi:process:mock-1" });
    expect(starts).toHaveLength(1); // the cold ones start in the background, after the create call
  });

  it("an entry whose directories cannot be taken over is ended, and the session starts cold saying so", async () => {
    const { manager, events, home, starts } = setup(async () => "end_turn", undefined, { ...pools, pools: [{ ...pools.pools[0]!, size: 1 }] });
    manager.startPools();
    await full(manager, 1);
    const [entry] = readdirSync(join(home, "workspaces")).filter((n) => n.startsWith("pool_"));
    rmSync(join(home, "workspaces", entry!), { recursive: true });
    const s = await manager.create({ harness: "pi" });
    expect(s.settings.pool).toEqual({ outcome: "miss", reason: "entry_failed", pool: "pi:process:mock-1" });
    await waitFor(events, s.id, state("ready"));
    expect(starts.length).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 100 && existsSync(join(home, "sessions", entry!)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(join(home, "sessions", entry!))).toBe(false);
  });

  it("before a claim, an agent's permission requests are refused and at most 200 of its updates are kept, then replayed into the session", async () => {
    const answers: string[] = [];
    const { manager, events, agent } = setup(async () => "end_turn", undefined, { ...pools, pools: [{ ...pools.pools[0]!, size: 1 }] });
    agent.afterNew = async (client, sessionId) => {
      for (let i = 0; i < 250; i++) await client.notify(acp.methods.client.session.update, { sessionId, update: text(`early ${i};`) });
      const res = await client.request(acp.methods.client.session.requestPermission, {
        sessionId,
        toolCall: { toolCallId: "t1", title: "rm -rf /workspace" },
        options: [{ optionId: "yes", name: "Allow", kind: "allow_once" }],
      });
      answers.push(res.outcome.outcome);
    };
    manager.startPools();
    await full(manager, 1);
    for (let i = 0; i < 100 && !answers.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(answers).toEqual(["cancelled"]);
    const s = await manager.create({ harness: "pi" });
    expect(s.settings.pool).toMatchObject({ outcome: "hit" });
    const evs = await waitFor(events, s.id, state("ready"));
    const early = evs.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text as string);
    expect(early.join("")).toContain("early 0;");
    expect(early.join("")).toContain("early 199;");
    expect(early.join("")).not.toContain("early 200;");
  });

  it("a declaration the server cannot serve stops it: unknown harness, tier host, a model no provider has", () => {
    const bad = (p: Partial<PoolSettings["pools"][number]>) => () => setup(async () => "end_turn", undefined, { ...pools, pools: [{ ...pools.pools[0]!, ...p }] });
    expect(bad({ harness: "nope" })).toThrow(/no harness 'nope'/);
    expect(bad({ tier: "host" })).toThrow(/tier host cannot be pooled/);
    expect(bad({ model: "gpt-4o" })).toThrow(/pool pi:process:mock-1:/);
  });
});
