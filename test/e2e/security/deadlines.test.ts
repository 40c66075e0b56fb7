import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../../src/mock/index.js";
import { data, ofType, toolLoopScript } from "../harness-contract.js";
import { API_TOKEN, collect, isReady, startBerth, turnEnded, type BerthProc } from "../helpers.js";

// Attack: a turn that never finishes (a model that never answers, a harness stuck after a
// tool, a permission nobody answers) held its sandbox forever. Real Pi and Claude Code in
// real T1 sandboxes against the mock model: each deadline ends the turn with its own stop
// reason, a person's thinking time is not counted, and an ended turn's permission is
// resolved before the turn ends.
const KEY = "sk-ant-api03-deadlines" + "D".repeat(40);

// The model never answers within the test.
const silent = parseMockScript(`
steps:
  - text: "too late"
    delay_ms: 600000
`);
// The model calls a tool at once, then goes silent.
const stalls = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo started" } }
  - text: "too late"
    delay_ms: 600000
`);
const asks = toolLoopScript({ name: "bash", input: { command: "printf 'asked' > out.txt", description: "Write out.txt" } });

const mocks: MockProvider[] = [];
let silentBerth: BerthProc;
let stallBerth: BerthProc;
let claudeBerth: BerthProc;

beforeAll(async () => {
  const [m1, m2, m3] = await Promise.all([silent, stalls, asks].map((script) => startMockProvider({ script, requireKey: KEY })));
  mocks.push(m1!, m2!, m3!);
  [silentBerth, stallBerth, claudeBerth] = await Promise.all([
    // The server's whole-turn ceiling is 2 minutes: asking for more is refused.
    startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: m1!.url, BERTH_TURN_TIMEOUT_MS: "120000" } }),
    startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: m2!.url } }),
    startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: m3!.url, BERTH_MODEL: "claude-mock" } }),
  ]);
});
afterAll(async () => {
  await Promise.all([silentBerth, stallBerth, claudeBerth].map((b) => b?.stop()));
  await Promise.all(mocks.map((m) => m.close()));
});

/** Runs one turn of a fresh Pi session with `deadlines` and returns its events from turn.started on. */
async function deadlineTurn(berth: BerthProc, deadlines: Record<string, number>) {
  const s = await berth.client.createSession({ harness: "pi", deadlines });
  expect(s).toMatchObject({ deadlines });
  await collect(berth.client, s.id, isReady);
  const t = await berth.client.postTurn(s.id, "work on something");
  const evs = await collect(berth.client, s.id, turnEnded(t.id), { timeoutMs: 60_000 });
  return { s, t, evs: evs.slice(evs.findIndex(ofType("turn.started"))) };
}

async function expectEndedBy(berth: BerthProc, r: Awaited<ReturnType<typeof deadlineTurn>>, deadline: string, stopReason: string, limitMs: number) {
  const err = r.evs.find(ofType("session.error"));
  expect(data(err)).toMatchObject({ code: "turn_deadline", deadline, limitMs });
  expect(data(err).message).toContain(`${limitMs} ms`);
  expect(data(r.evs.at(-1))).toEqual({ stopReason });
  const turns = (await berth.client.request<any>("GET", `/v1/sessions/${r.s.id}/turns`)).body.turns;
  expect(turns.map((t: any) => [t.state, t.stopReason])).toEqual([["failed", stopReason]]);
  // The session survives its turn: the harness honoured the cancel.
  expect((await berth.client.getSession(r.s.id)).state).toBe("ready");
  await berth.client.endSession(r.s.id);
}

describe("turn deadlines", () => {
  it("ends a turn whose model never answers with first_event_timeout, and one that runs too long with turn_timeout", async () => {
    const first = await deadlineTurn(silentBerth, { firstEventMs: 1500 });
    await expectEndedBy(silentBerth, first, "first_event", "first_event_timeout", 1500);
    // No event came from the turn before the deadline: only berth's own (the cancel then
    // aborts the model call, which is logged after).
    const beforeDeadline = first.evs.slice(0, first.evs.findIndex(ofType("session.error")));
    expect(beforeDeadline.filter((e) => !["turn.started", "session.status"].includes(e.type))).toEqual([]);

    const whole = await deadlineTurn(silentBerth, { turnMs: 2000, firstEventMs: 60_000 });
    await expectEndedBy(silentBerth, whole, "turn", "turn_timeout", 2000);
  });

  it("ends a turn that goes quiet after its first tool with idle_timeout", async () => {
    const r = await deadlineTurn(stallBerth, { idleMs: 2000 });
    // It made progress first: the tool ran.
    expect(r.evs.some((e) => e.type === "tool.update" && data(e).status === "completed")).toBe(true);
    await expectEndedBy(stallBerth, r, "idle", "idle_timeout", 2000);
  });

  it("refuses a deadline above the server's ceiling, or below one second, storing nothing", async () => {
    const before = (await silentBerth.client.request<any>("GET", "/v1/sessions")).body.sessions.length;
    const create = async (body: unknown) => {
      const res = await fetch(`${silentBerth.url}/v1/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const over = await create({ harness: "pi", deadlines: { turnMs: 120_001 } });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe("deadline_over_limit");
    expect(over.body.error.message).toContain("BERTH_TURN_TIMEOUT_MS");
    for (const bad of [{ idleMs: 10 }, { turnMs: -1 }, { firstEventMs: "soon" }, { turnMs: 1.5e3 + 0.5 }, { nope: 1 }]) {
      const r = await create({ harness: "pi", deadlines: bad });
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    expect((await silentBerth.client.request<any>("GET", "/v1/sessions")).body.sessions.length).toBe(before);
  });

  it("does not count time waiting for a person: an answer after the idle limit still completes the turn", async () => {
    const s = await claudeBerth.client.createSession({ harness: "claude", permissionPolicy: "ask", deadlines: { idleMs: 1500, turnMs: 60_000 } });
    await collect(claudeBerth.client, s.id, isReady);
    const t = await claudeBerth.client.postTurn(s.id, "write out.txt");
    const upTo = await collect(claudeBerth.client, s.id, ofType("permission.requested"));
    // Twice the idle limit passes with the question open.
    await new Promise((r) => setTimeout(r, 3000));
    await claudeBerth.client.answerPermission(s.id, data(upTo.at(-1)).permissionId, { decision: "allow" });
    const rest = await collect(claudeBerth.client, s.id, turnEnded(t.id), { after: upTo.at(-1)!.seq });
    expect(rest.some(ofType("session.error"))).toBe(false);
    expect(data(rest.at(-1))).toEqual({ stopReason: "end_turn" });
    await claudeBerth.client.endSession(s.id);
  });

  it("on DELETE during a pending permission, logs permission.resolved before turn.ended", async () => {
    const s = await claudeBerth.client.createSession({ harness: "claude", permissionPolicy: "ask" });
    await collect(claudeBerth.client, s.id, isReady);
    const t = await claudeBerth.client.postTurn(s.id, "write out.txt");
    const req = (await collect(claudeBerth.client, s.id, ofType("permission.requested"))).at(-1)!;
    await claudeBerth.client.endSession(s.id);
    const events = (await claudeBerth.client.eventsPage(s.id)).events;
    const resolved = events.findIndex((e) => e.type === "permission.resolved" && data(e).permissionId === data(req).permissionId);
    const ended = events.findIndex((e) => e.type === "turn.ended" && e.turnId === t.id);
    expect(resolved).toBeGreaterThan(-1);
    expect(data(events[resolved])).toMatchObject({ outcome: "cancelled", by: "cancelled" });
    expect(ended).toBeGreaterThan(resolved);
    expect(data(events[ended])).toEqual({ stopReason: "cancelled" });
  });
});
