import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import type { BerthEvent } from "../../src/events/types.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { FINAL_TEXT, toolLoopScript, WRITE_PROMPT } from "./harness-contract.js";
import { API_TOKEN, assertContiguous, collect, isReady, newWorkspace, sessionPids, startBerth, turnEnded, type BerthProc } from "./helpers.js";

// Two real berth processes (the built CLI) on one real PostgreSQL server, sharing one
// BERTH_HOME as nodes share a filesystem: any node serves any session, and a node killed with
// SIGKILL costs its sessions nothing but a resume on another node.

const KEY = "sk-ant-api03-scaleout" + "S".repeat(40);
const LEASE_MS = 3000;

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => pg?.stop());

function nodeEnv(url: string, nodeId: string, mockUrl: string): Record<string, string> {
  return { BERTH_DATABASE_URL: url, BERTH_NODE_ID: nodeId, BERTH_NODE_LEASE_MS: String(LEASE_MS), ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mockUrl, BERTH_MODEL: "claude-mock" };
}

/** Nodes A and B as two `berth serve` processes on a new database and one shared home; each talks to its own mock model. */
async function twoNodes(mockA: string, mockB = mockA): Promise<[BerthProc, BerthProc]> {
  const url = await pg.createDatabase();
  const home = mkdtempSync(join(tmpdir(), "berth-nodes-"));
  const a = await startBerth({ home, env: nodeEnv(url, "node-a", mockA) });
  const b = await startBerth({ home, env: nodeEnv(url, "node-b", mockB) });
  return [a, b];
}

/** Whether `pid` is a descendant of `ancestor` (its harness runs under that node's process). */
function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    try {
      p = Number(readFileSync(`/proc/${p}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]);
    } catch {
      return false;
    }
  }
  return false;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("two berth nodes on one PostgreSQL database", () => {
  let mock: MockProvider;
  let a: BerthProc;
  let b: BerthProc;
  beforeAll(async () => {
    mock = await startMockProvider({
      script: toolLoopScript({ name: "bash", input: { command: "printf 'written on a' > out.txt && echo done", description: "Write out.txt" } }),
      requireKey: KEY,
    });
    [a, b] = await twoNodes(mock.url);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await mock?.close();
  });

  it("a Pi session created on A is followed live from B, and a turn posted to B runs on A", async () => {
    const ws = newWorkspace();
    const s = await a.client.createSession({ harness: "pi", workspace: ws });
    // B's stream: replay, then A's events live, through the database's notices.
    const following = collect(b.client, s.id, (e) => e.type === "turn.ended");
    await collect(b.client, s.id, isReady);
    const t = await b.client.postTurn(s.id, "go");
    const seen = await following;
    assertContiguous(seen);
    expect(seen.at(-1)).toMatchObject({ turnId: t.id, data: { stopReason: "end_turn" } });
    expect(seen.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("")).toContain(FINAL_TEXT);
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written on a");
    // The harness runs under A, not B.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.every((p) => descendsFrom(p, a.child.pid!))).toBe(true);
    // Reads agree on both nodes; what B streamed is what A stored.
    const [viaA, viaB] = await Promise.all([a.client.getSession(s.id), b.client.getSession(s.id)]);
    expect(viaB).toMatchObject({ state: "ready", lastSeq: viaA.lastSeq, turns: 1 });
    expect((await a.client.eventsPage(s.id)).events.slice(0, seen.length)).toEqual(seen);
    // The owner's errors cross nodes as they are: nothing to cancel.
    await expect(b.client.cancel(s.id)).rejects.toMatchObject({ status: 409, code: "no_running_turn" });
    // Ended through B: A stops the harness.
    expect((await b.client.endSession(s.id)).state).toBe("ended");
    expect(sessionPids(s.id)).toEqual([]);
    // Deleted through B (its end goes to A): gone on both nodes, and from the shared home.
    expect(existsSync(join(a.home, "snapshots", `${s.id}.git`))).toBe(true);
    const purged = await fetch(`${b.url}/v1/sessions/${s.id}?purge=true`, { method: "DELETE", headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(purged.status).toBe(204);
    for (const n of [a, b]) await expect(n.client.getSession(s.id)).rejects.toMatchObject({ status: 404, code: "session_not_found" });
    expect(existsSync(join(a.home, "snapshots", `${s.id}.git`))).toBe(false);
  });

  it("a Claude Code permission request on A is answered through B (Pi never asks)", async () => {
    const s = await a.client.createSession({ harness: "claude", workspace: newWorkspace(), permissionPolicy: "ask" });
    await collect(b.client, s.id, isReady);
    const t = await b.client.postTurn(s.id, WRITE_PROMPT);
    const asked = (await collect(b.client, s.id, (e) => e.type === "permission.requested")).at(-1)!;
    const permissionId = (asked.data as any).permissionId as string;
    // B, which does not run the session, reads what waits from the shared log.
    expect((await b.client.getSession(s.id)).waitingForPermission).toBe(1);
    const answered = await b.client.request<any>("POST", `/v1/sessions/${s.id}/permissions/${permissionId}`, { decision: "allow" });
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ permissionId });
    // A second answer to the same request: A's error, through B.
    await expect(b.client.request("POST", `/v1/sessions/${s.id}/permissions/${permissionId}`, { decision: "deny" })).rejects.toMatchObject({ status: 404 });
    const evs = await collect(b.client, s.id, turnEnded(t.id));
    expect(evs.find((e) => e.type === "permission.resolved")?.data).toMatchObject({ permissionId, by: "client", outcome: "selected" });
    expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
    await b.client.endSession(s.id);
  });
});

describe("a node killed with SIGKILL mid-turn", () => {
  let hanging: MockProvider;
  let normal: MockProvider;
  beforeAll(async () => {
    // A's model hangs on the turn's second call; B's answers: the same conversation continues on B.
    const steps = (last: string) => parseMockScript(`steps:\n  - tool: { name: bash, input: { command: "echo one > one.txt" } }\n${last}`);
    hanging = await startMockProvider({ script: steps(`  - text: "never sent in time"\n    delay_ms: 120000`), requireKey: KEY });
    normal = await startMockProvider({ script: steps(`  - text: "remembered"`), requireKey: KEY });
  });
  afterAll(async () => {
    await hanging?.close();
    await normal?.close();
  });

  it("B marks its session interrupted within the lease, every committed event is readable from B, and a resume on B completes a turn", async () => {
    const [a, b] = await twoNodes(hanging.url, normal.url);
    try {
      const s = await a.client.createSession({ harness: "pi" });
      await collect(b.client, s.id, isReady);
      const t1 = await a.client.postTurn(s.id, "go");
      await collect(b.client, s.id, (e) => e.type === "tool.update" && (e.data as any).status === "completed");
      await new Promise((r) => setTimeout(r, 500)); // the hanging model call is in flight
      const before = (await b.client.eventsPage(s.id)).events;
      expect(sessionPids(s.id).length).toBeGreaterThan(0);

      await a.stop("SIGKILL");
      const killed = Date.now();
      const interrupted = await until(
        "B to mark the session interrupted",
        async () => ((await b.client.getSession(s.id)).state === "interrupted" ? Date.now() : undefined),
        10 * LEASE_MS,
      );
      // The lease, plus at most one heartbeat of B's and some slack for a loaded machine.
      expect(interrupted - killed).toBeLessThan(LEASE_MS * 3);
      // Nothing of A's is left: its sandbox died with it (bubblewrap --die-with-parent).
      await until("A's sandbox to go", async () => (sessionPids(s.id).length === 0 ? true : undefined), 5000);

      const after = (await b.client.eventsPage(s.id)).events;
      assertContiguous(after);
      expect(after.slice(0, before.length)).toEqual(before);
      const tail = after.slice(before.length);
      expect(tail.some((e) => e.type === "turn.ended" && e.turnId === t1.id && (e.data as any).stopReason === "interrupted")).toBe(true);
      expect(tail.find((e) => e.type === "session.status" && (e.data as any).state === "interrupted")?.data).toMatchObject({ reason: expect.stringContaining("lease") });

      const lastSeq = (await b.client.getSession(s.id)).lastSeq;
      expect((await b.client.request<any>("POST", `/v1/sessions/${s.id}/resume`)).status).toBe(202);
      const ready = (await collect(b.client, s.id, isReady, { after: lastSeq })).at(-1)!;
      expect(ready.data).toMatchObject({ resumed: true, context: "restored" });
      const t2 = await b.client.postTurn(s.id, "again");
      const evs = await collect(b.client, s.id, turnEnded(t2.id), { after: lastSeq });
      expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
      expect(evs.filter((e: BerthEvent) => e.type === "message.delta").map((e) => (e.data as any).text).join("")).toBe("remembered");
      // The harness now runs under B.
      expect(sessionPids(s.id).every((p) => descendsFrom(p, b.child.pid!))).toBe(true);
      assertContiguous((await b.client.eventsPage(s.id)).events);
      await b.client.endSession(s.id);
    } finally {
      await Promise.all([a.stop("SIGKILL"), b.stop()]);
    }
  });
});

describe("a node that stalls past its lease (SIGSTOP, as a long pause or a partition would)", () => {
  let mock: MockProvider;
  beforeAll(async () => {
    mock = await startMockProvider({ script: toolLoopScript({ name: "bash", input: { command: "echo ok" } }), requireKey: KEY });
  });
  afterAll(async () => mock?.close());

  it("fences itself when it wakes: the session another node took over is stopped on it, and nothing it writes breaks the log", async () => {
    const [a, b] = await twoNodes(mock.url);
    try {
      const s = await a.client.createSession({ harness: "pi" });
      await collect(b.client, s.id, isReady);
      const harness = sessionPids(s.id);
      expect(harness.length).toBeGreaterThan(0);
      a.child.kill("SIGSTOP");
      await until("B to take the session over", async () => ((await b.client.getSession(s.id)).state === "interrupted" ? true : undefined), 10 * LEASE_MS);
      // A's harness still runs: A is only paused. When A wakes, its next heartbeat finds its lease lost.
      expect(harness.some((p) => sessionPids(s.id).includes(p))).toBe(true);
      a.child.kill("SIGCONT");
      await until("A to stop the harness it no longer owns", async () => (sessionPids(s.id).length === 0 ? true : undefined), 10 * LEASE_MS);
      // pino writes A's log asynchronously: the line may reach the pipe after the harness is gone.
      await until("A to log why it stopped the harness", async () => (a.log().includes("stopping a session another node took over") ? true : undefined), 5000);
      // The session is B's to resume, and its log is whole.
      expect((await b.client.request<any>("POST", `/v1/sessions/${s.id}/resume`)).status).toBe(202);
      await collect(b.client, s.id, (e) => e.type === "session.status" && (e.data as any).state === "ready" && (e.data as any).resumed === true);
      const t = await b.client.postTurn(s.id, "go");
      await collect(b.client, s.id, turnEnded(t.id));
      assertContiguous((await b.client.eventsPage(s.id)).events);
      // A, awake again, serves the session through its new owner.
      expect((await a.client.getSession(s.id)).state).toBe("ready");
      await a.client.endSession(s.id);
      expect((await b.client.getSession(s.id)).state).toBe("ended");
    } finally {
      a.child.kill("SIGCONT");
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

