import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { collect, isReady, startBerth, turnEnded, type BerthProc } from "./helpers.js";

const KEY = "sk-ant-api03-turns" + "T".repeat(40);
// Every model call answers after a pause, so turns overlap with the POSTs that queue them;
// a prompt containing "slow" gets a one-minute pause (for cancel).
const script = parseMockScript(`
steps:
  - text: "ok"
    delay_ms: 400
`);
const slow = parseMockScript(`
steps:
  - text: "too late"
    delay_ms: 60000
`);

let fast: MockProvider;
let slowMock: MockProvider;
let berth: BerthProc;
let slowBerth: BerthProc;

beforeAll(async () => {
  [fast, slowMock] = await Promise.all([startMockProvider({ script, requireKey: KEY }), startMockProvider({ script: slow, requireKey: KEY })]);
  [berth, slowBerth] = await Promise.all([
    startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fast.url } }),
    startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: slowMock.url } }),
  ]);
});
afterAll(async () => {
  await Promise.all([berth?.stop(), slowBerth?.stop()]);
  await Promise.all([fast?.close(), slowMock?.close()]);
});

describe("turns", () => {
  it("a retried POST with the same idempotency key does not run twice; queued turns run in order", async () => {
    const s = await berth.client.createSession({ harness: "pi" });
    // Posted while the session is still starting: they queue.
    const a = await berth.client.request<any>("POST", `/v1/sessions/${s.id}/turns`, { prompt: "first" }, { "idempotency-key": "k-1" });
    const again = await berth.client.request<any>("POST", `/v1/sessions/${s.id}/turns`, { prompt: "first" }, { "idempotency-key": "k-1" });
    expect(a.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(a.body.id);
    const b = await berth.client.postTurn(s.id, "second", "k-2");
    const c = await berth.client.postTurn(s.id, "third");
    expect([a.body.idx, b.idx, c.idx]).toEqual([0, 1, 2]);
    // The same key in the body is the same turn too.
    expect((await berth.client.postTurn(s.id, "second", "k-2")).id).toBe(b.id);

    await collect(berth.client, s.id, turnEnded(c.id));
    const events = (await berth.client.eventsPage(s.id)).events;
    const started = events.filter((e) => e.type === "turn.started").map((e) => e.turnId);
    const ended = events.filter((e) => e.type === "turn.ended").map((e) => e.turnId);
    expect(started).toEqual([a.body.id, b.id, c.id]);
    expect(ended).toEqual([a.body.id, b.id, c.id]);
    expect(events.filter((e) => e.type === "turn.queued")).toHaveLength(3);
    // One turn never starts before the previous one ended.
    for (let i = 1; i < 3; i++) {
      const prevEnd = events.findIndex((e) => e.type === "turn.ended" && e.turnId === started[i - 1]);
      const nextStart = events.findIndex((e) => e.type === "turn.started" && e.turnId === started[i]);
      expect(nextStart).toBeGreaterThan(prevEnd);
    }
    const turns = (await berth.client.request<any>("GET", `/v1/sessions/${s.id}/turns`)).body.turns;
    expect(turns.map((t: any) => [t.state, t.stopReason])).toEqual([
      ["completed", "end_turn"],
      ["completed", "end_turn"],
      ["completed", "end_turn"],
    ]);
    // One model call per turn: the retried POST did not run.
    expect(events.filter((e) => e.type === "model.call")).toHaveLength(3);
    await berth.client.endSession(s.id);
  });

  it("cancel stops a long turn with stopReason cancelled, and the session is ready again", async () => {
    const s = await slowBerth.client.createSession({ harness: "pi" });
    await collect(slowBerth.client, s.id, isReady);
    const t = await slowBerth.client.postTurn(s.id, "slow please");
    await collect(slowBerth.client, s.id, (e) => e.type === "turn.started");
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    expect((await slowBerth.client.cancel(s.id)).turnId).toBe(t.id);
    const evs = await collect(slowBerth.client, s.id, turnEnded(t.id), { timeoutMs: 15_000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(evs.at(-1)!.data).toMatchObject({ stopReason: "cancelled" });
    expect((await slowBerth.client.getSession(s.id)).state).toBe("ready");
    // No running turn: cancel is a 409 with a code.
    await expect(slowBerth.client.cancel(s.id)).rejects.toMatchObject({ status: 409, code: "no_running_turn" });
    await slowBerth.client.endSession(s.id);
  });
});
