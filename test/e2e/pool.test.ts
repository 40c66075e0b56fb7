import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { expectToolLoopTurn, toolLoopScript } from "./harness-contract.js";
import { API_TOKEN, collect, isReady, newWorkspace, processEnv, sessionPids, startBerth, walk, type BerthProc } from "./helpers.js";

// Warm pools with a real Pi in real bubblewrap sandboxes: entries are pre-started with no
// identity, a create request claims one without starting anything, the claim binds the
// gateway token to the session's provider and secret, the pool refills, and a killed berth
// leaves nothing behind once restarted.
const CANARY = "sk-ant-api03-POOLCANARY" + "Q".repeat(40);
const POOL = "pi:process:claude-mock";
const script = toolLoopScript({ name: "bash", input: { command: "printf 'from the pool' > out.txt && echo done" } });

/** Live processes whose environment names this pool entry (the pooled sandbox's tree). */
function entryPids(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const entry = readFileSync(`/proc/${p}/environ`, "latin1")
        .split("\0")
        .find((kv) => kv.startsWith("BERTH_POOL_ENTRY="));
      if (entry) out.set(entry.slice(17), [...(out.get(entry.slice(17)) ?? []), Number(p)]);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The CPU share of a process's cgroup: cpu.weight (v2) or cpu.shares (v1). */
function cpuShare(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find(([, ctl]) => ctl!.split(",").includes("cpu"));
  if (v1) return readFileSync(join("/sys/fs/cgroup", v1[1]!, v1[2]!, "cpu.shares"), "utf8").trim();
  const v2 = lines.find((l) => l.startsWith("0::"))!.slice(3);
  return readFileSync(join("/sys/fs/cgroup", v2, "cpu.weight"), "utf8").trim();
}

async function poolGauge(berth: BerthProc, state: "ready" | "starting"): Promise<number> {
  const text = await (await fetch(`${berth.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
  const m = new RegExp(`berth_pool_entries\\{pool="${POOL}",state="${state}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : -1;
}

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 120_000, info?: () => Promise<string>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${info ? `: ${await info()}` : ""}`);
}

describe("warm pool (Pi, T1)", () => {
  let mock: MockProvider;
  let berth: BerthProc;
  const env = (url: string) => ({
    ANTHROPIC_API_KEY: CANARY,
    ANTHROPIC_BASE_URL: url,
    BERTH_MODEL: "claude-mock",
    BERTH_POOLS: `${POOL}=2`,
    BERTH_POOL_REFILL_CONCURRENCY: "2",
  });
  beforeAll(async () => {
    mock = await startMockProvider({ script, requireKey: CANARY });
    berth = await startBerth({ env: env(mock.url) });
  });
  afterAll(async () => {
    await berth?.stop();
    await mock?.close();
  });

  it("pre-starts entries with no identity, and a claim is ready in the entry's own sandbox, bound to the session's provider", async () => {
    await until("a full pool", async () => (await poolGauge(berth, "ready")) === 2);
    const before = entryPids();
    expect(before.size).toBe(2);

    // Before any claim: no secret, no session id in the pooled sandboxes' environments or files.
    const tokens: string[] = [];
    for (const [entry, pids] of before) {
      for (const pid of pids) {
        const e = processEnv(pid);
        expect(e.BERTH_SESSION_ID).toBeUndefined();
        expect(JSON.stringify(e)).not.toContain(CANARY);
        expect(JSON.stringify(e)).not.toMatch(/ses_[0-9a-z]{9}/);
        tokens.push(e.BERTH_GATEWAY_TOKEN!);
      }
      for (const dir of [join(berth.home, "sessions", entry), join(berth.home, "workspaces", entry)])
        for (const f of walk(dir)) {
          const text = readFileSync(f, "latin1");
          expect(text, f).not.toContain(CANARY);
          expect(text, f).not.toMatch(/ses_[0-9a-z]{9}/);
        }
    }
    // Unclaimed entries run at the lowest CPU share, so they never slow running sessions.
    for (const pids of before.values()) expect(["1", "2"]).toContain(cpuShare(pids.at(-1)!));
    // An unbound pooled token is refused at the gateway.
    const models = readFileSync(join(berth.home, "sessions", [...before.keys()][0]!, "home", ".pi/agent/models.json"), "utf8");
    const gw = /baseUrl": "([^"]+)"/.exec(models)![1]!;
    const post = (key: string) =>
      fetch(`${gw}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "claude-mock", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
      });
    expect(new Set(tokens).size).toBe(2);
    for (const t of tokens) expect((await post(t)).status).toBe(401);

    // The claim: ready in the response, running in a sandbox that existed before the request.
    const s = await berth.client.createSession({ harness: "pi" });
    expect(s.state).toBe("ready");
    expect(s.pool).toEqual({ outcome: "hit", pool: POOL });
    const events = await collect(berth.client, s.id, isReady, { timeoutMs: 5_000 });
    expect(events.find((e) => e.type === "session.status" && (e.data as any).state === "starting")!.data).toMatchObject({ pool: { outcome: "hit" } });
    const claimedEntry = [...before.keys()].find((entry) => !existsSync(join(berth.home, "sessions", entry)))!;
    expect(claimedEntry).toBeDefined();
    expect(existsSync(join(berth.home, "sessions", s.id, "home"))).toBe(true);
    const claimedPids = before.get(claimedEntry)!;
    for (const pid of claimedPids) expect(existsSync(`/proc/${pid}`)).toBe(true);
    // Claimed, it competes for CPU like any session.
    expect(["100", "1024"]).toContain(cpuShare(claimedPids.at(-1)!));
    // Nothing was started for it: no process carries its session id; its sandbox is the entry's.
    expect(sessionPids(s.id)).toEqual([]);

    // A turn runs in the pooled workspace (now the session's), with ordered, gap-free events.
    await expectToolLoopTurn(berth, s, join(berth.home, "workspaces", s.id), "from the pool");
    // The claimed token is now the session's: it reached the session's provider with its secret.
    const claimedToken = processEnv(claimedPids[0]!).BERTH_GATEWAY_TOKEN!;
    expect(mock.requests.length).toBeGreaterThanOrEqual(2);
    expect(mock.requests.every((r) => r.authOk === true)).toBe(true);
    expect((await post(claimedToken)).status).toBe(200);

    // The pool refills to its size.
    await until("the refill", async () => (await poolGauge(berth, "ready")) === 2);
    const metrics = await (await fetch(`${berth.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
    expect(metrics).toMatch(new RegExp(`berth_pool_claims_total\\{pool="${POOL}",outcome="hit",reason=""\\} 1`));
    expect(metrics).toMatch(/berth_session_start_seconds_count\{phase="claim",pool="hit"\} 1/);
    expect(metrics).toMatch(/berth_session_start_seconds_count\{phase="first_model_byte",pool="hit"\} 1/);

    await berth.client.endSession(s.id);
    // Gone with the session (a zombie's environment reads empty, so it is not counted).
    expect(entryPids().get(claimedEntry)).toBeUndefined();
    expect(existsSync(join(berth.home, "sessions", s.id))).toBe(false);
    expect(existsSync(join(berth.home, "workspaces", s.id))).toBe(false);
    expect((await post(claimedToken)).status).toBe(401);
  });

  it("starts cold, saying why, what a pool cannot serve", async () => {
    const prompt = await berth.client.createSession({ harness: "pi", systemPrompt: "be brief" });
    expect(prompt.pool).toEqual({ outcome: "miss", reason: "system_prompt", pool: undefined });
    const ws = await berth.client.createSession({ harness: "pi", workspace: newWorkspace() });
    expect(ws.pool).toMatchObject({ outcome: "miss", reason: "workspace" });
    for (const s of [prompt, ws]) {
      expect(s.state).toBe("starting");
      await collect(berth.client, s.id, isReady);
      await berth.client.endSession(s.id);
    }
  });

  it("leaves no process and no entry directory behind when berth is killed with a full pool and restarted", async () => {
    await until("a full pool", async () => (await poolGauge(berth, "ready")) === 2, 60_000, async () => `ready ${await poolGauge(berth, "ready")}, starting ${await poolGauge(berth, "starting")}; log:\n${berth.log().split("\n").filter((l) => /pool/.test(l)).slice(-10).join("\n")}`);
    const pids = [...entryPids().values()].flat();
    expect(pids.length).toBeGreaterThanOrEqual(2);
    await berth.stop("SIGKILL");
    const again = await startBerth({ home: berth.home, env: { ...env(mock.url), BERTH_POOLS: undefined } });
    try {
      // Readiness waits for the previous run's leftovers to be reaped.
      await until("readiness", async () => (await fetch(`${again.url}/ready`)).status === 200, 20_000);
      expect(entryPids().size).toBe(0);
      for (const sub of ["sessions", "workspaces"]) expect(readdirSync(join(berth.home, sub)).filter((n) => n.startsWith("pool_"))).toEqual([]);
    } finally {
      await again.stop();
    }
  });
});
