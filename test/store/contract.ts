// The store contract: what the session manager, the event log, the gateway and the API rely on
// from storage, run against every store (SQLite and PostgreSQL) with the same assertions.
import { describe, expect, it } from "vitest";
import type { EventStore, StoredEvent } from "../../src/events/store.js";
import type { SessionStore } from "../../src/sessions/store.js";
import type { SessionRecord } from "../../src/sessions/types.js";

export type AnyStore = SessionStore & EventStore;

export const session = (id: string, over: Partial<SessionRecord> = {}): SessionRecord => ({
  id,
  harness: "pi",
  harnessVersion: "1",
  model: "m",
  tier: "process",
  workspace: "/w",
  ownsWorkspace: false,
  state: "starting",
  settings: { permissionPolicy: "allow", permissionTimeoutMs: 1000, mcpServers: [] },
  acpSessionId: null,
  error: null,
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  ...over,
});

const ev = (sessionId: string, seq: number, over: Partial<StoredEvent> = {}): StoredEvent => ({ sessionId, seq, ts: "2026-12-04T00:00:00.000Z", type: "message.delta", dataJson: `{"i":${seq}}`, ...over });

export function storeContract(name: string, open: () => Promise<AnyStore>): void {
  describe(`store contract: ${name}`, () => {
    it("keeps a session as it was given: settings, booleans, nulls", async () => {
      const s = await open();
      const rec = session("a", {
        ownsWorkspace: true,
        settings: { permissionPolicy: "ask", permissionTimeoutMs: 5, mcpServers: [{ name: "x" }], metadata: { k: "v ü" }, budget: { maxTokens: 10 } },
      });
      await s.insertSession(rec);
      expect(await s.getSession("a")).toEqual(rec);
      expect(await s.getSession("nope")).toBeUndefined();
      await s.close();
    });

    it("lists sessions newest first, with a limit, and finds them by state", async () => {
      const s = await open();
      for (const [i, id] of ["a", "b", "c"].entries()) await s.insertSession(session(id, { createdAt: `2026-01-0${i + 1}T00:00:00.000Z` }));
      await s.setSessionState("b", "ended");
      expect((await s.listSessions()).map((r) => r.id)).toEqual(["c", "b", "a"]);
      expect((await s.listSessions({ limit: 2 })).map((r) => r.id)).toEqual(["c", "b"]);
      expect((await s.sessionsInStates(["starting", "ready", "running"])).map((r) => r.id).sort()).toEqual(["a", "c"]);
      expect(await s.sessionCountsByState()).toEqual({ starting: 2, ended: 1 });
      await s.close();
    });

    it("pages sessions by keyset: sessions created in the same millisecond are neither skipped nor repeated; a state filter pages alike", async () => {
      const s = await open();
      const at = (d: number) => `2026-02-0${d}T00:00:00.000Z`;
      // Five in one millisecond (ids break the tie), one before, one after.
      const rows = [session("x0", { createdAt: at(1) }), ...["m1", "m2", "m3", "m4", "m5"].map((id) => session(id, { createdAt: at(2) })), session("z9", { createdAt: at(3) })];
      for (const r of rows) await s.insertSession(r);
      await s.setSessionState("m2", "ended");
      await s.setSessionState("m4", "ended");
      const pages = async (states?: ("starting" | "ended")[]) => {
        const seen: string[][] = [];
        let before: { createdAt: string; id: string } | undefined;
        for (;;) {
          const page = await s.listSessions({ limit: 2, ...(before ? { before } : {}), ...(states ? { states } : {}) });
          if (page.length === 0) return seen;
          seen.push(page.map((r) => r.id));
          before = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
        }
      };
      expect(await pages()).toEqual([["z9", "m5"], ["m4", "m3"], ["m2", "m1"], ["x0"]]);
      expect(await pages(["ended"])).toEqual([["m4", "m2"]]);
      expect(await pages(["starting"])).toEqual([["z9", "m5"], ["m3", "m1"], ["x0"]]);
      // A session created while paging (newer than the cursor) does not shift the pages that follow.
      const first = await s.listSessions({ limit: 3 });
      await s.insertSession(session("new", { createdAt: at(4) }));
      expect((await s.listSessions({ limit: 3, before: { createdAt: first.at(-1)!.createdAt, id: first.at(-1)!.id } })).map((r) => r.id)).toEqual(["m3", "m2", "m1"]);
      // A cursor may name a session since deleted: the keyset still holds.
      expect((await s.listSessions({ before: { createdAt: at(2), id: "m35" } })).map((r) => r.id)).toEqual(["m3", "m2", "m1", "x0"]);
      expect(await s.listSessions({ states: [] })).toEqual([]);
      await s.close();
    });

    it("records a state with its error, and the ACP session id", async () => {
      const s = await open();
      await s.insertSession(session("a"));
      await s.setSessionState("a", "failed", "it broke");
      await s.setAcpSessionId("a", "acp-1");
      expect(await s.getSession("a")).toMatchObject({ state: "failed", error: "it broke", acpSessionId: "acp-1" });
      await s.setSessionState("a", "starting");
      expect((await s.getSession("a"))?.error).toBeNull();
      await s.close();
    });

    it("numbers turns per session and dedupes them by idempotency key", async () => {
      const s = await open();
      await s.insertSession(session("a"));
      await s.insertSession(session("b"));
      const t = (id: string, sid: string, key: string | null) => s.insertTurn({ id, sessionId: sid, state: "queued", prompt: [{ type: "text", text: id }], idempotencyKey: key, createdAt: "now" });
      expect(await t("t1", "a", "k")).toMatchObject({ created: true, turn: { id: "t1", idx: 0, prompt: [{ type: "text", text: "t1" }] } });
      expect(await t("t2", "a", "k")).toMatchObject({ created: false, turn: { id: "t1", idx: 0 } });
      expect(await t("t3", "a", null)).toMatchObject({ created: true, turn: { idx: 1 } });
      expect(await t("t4", "a", null)).toMatchObject({ created: true, turn: { idx: 2 } });
      expect(await t("t5", "b", "k")).toMatchObject({ created: true, turn: { id: "t5", idx: 0 } });
      expect((await s.listTurns("a")).map((x) => x.id)).toEqual(["t1", "t3", "t4"]);
      expect((await s.sessionTallies(["a", "b"])).get("a")?.turns).toBe(3);
      expect(await s.getTurn("missing")).toBeUndefined();
      await s.close();
    });

    it("numbers turns posted at the same moment without a repeat", async () => {
      const s = await open();
      await s.insertSession(session("a"));
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.insertTurn({ id: `t${i}`, sessionId: "a", state: "queued", prompt: [], idempotencyKey: null, createdAt: "now" })),
      );
      expect(made.map((m) => m.turn.idx).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await s.close();
    });

    it("moves a turn through its states with timestamps, and finds turns by state", async () => {
      const s = await open();
      await s.insertSession(session("a"));
      for (const id of ["t1", "t2"]) await s.insertTurn({ id, sessionId: "a", state: "queued", prompt: [], idempotencyKey: null, createdAt: "now" });
      await s.startTurn("t1");
      expect(await s.getTurn("t1")).toMatchObject({ state: "running", stopReason: null, endedAt: null });
      expect((await s.turnsInStates("a", ["running"])).map((t) => t.id)).toEqual(["t1"]);
      await s.endTurn("t1", "completed", "end_turn");
      const t1 = await s.getTurn("t1");
      expect(t1).toMatchObject({ state: "completed", stopReason: "end_turn" });
      expect(Date.parse(t1!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(t1!.startedAt!));
      expect((await s.turnsInStates("a", ["queued", "running"])).map((t) => t.id)).toEqual(["t2"]);
      await s.close();
    });

    it("stores events in order, pages them after a cursor, and knows the last seq", async () => {
      const s = await open();
      expect(await s.maxSeq("e")).toBe(0);
      await s.insertEvents(Array.from({ length: 10 }, (_, i) => ev("e", i + 1, i === 3 ? { turnId: "t1", type: "turn.started" } : {})));
      await s.insertEvents([ev("other", 1)]);
      expect(await s.maxSeq("e")).toBe(10);
      const page = await s.eventsAfter("e", 2, 3);
      expect(page.map((e) => e.seq)).toEqual([3, 4, 5]);
      expect(page[1]).toEqual({ sessionId: "e", seq: 4, ts: "2026-12-04T00:00:00.000Z", turnId: "t1", type: "turn.started", dataJson: '{"i":4}' });
      expect(page[0]!.turnId).toBeUndefined();
      expect(await s.eventsAfter("e", 10, 5)).toEqual([]);
      await s.close();
    });

    it("keeps event data byte for byte (it is never re-serialised)", async () => {
      const s = await open();
      const dataJson = '{"b":1,  "a":"ü\\u0000\\n","n":1.50}';
      await s.insertEvents([ev("e", 1, { dataJson })]);
      expect((await s.eventsAfter("e", 0, 1))[0]!.dataJson).toBe(dataJson);
      await s.close();
    });

    it("commits a batch of events whole or not at all: a repeated seq fails the batch", async () => {
      const s = await open();
      await s.insertEvents([ev("e", 1)]);
      await expect(s.insertEvents([ev("e", 2), ev("e", 1)])).rejects.toBeTruthy();
      expect((await s.eventsAfter("e", 0, 10)).map((e) => e.seq)).toEqual([1]);
      await s.close();
    });

    it("tallies many sessions at once: last seq, turns, model spend, unanswered permission requests", async () => {
      const s = await open();
      const zero = { lastSeq: 0, turns: 0, spent: { tokens: 0, costUsd: 0 }, pendingPermissions: 0 };
      expect(await s.sessionTallies([])).toEqual(new Map());
      // An id with nothing stored gets zeros (the page's sessions may have no events yet).
      expect(await s.sessionTallies(["e"])).toEqual(new Map([["e", zero]]));
      await s.insertSession(session("e"));
      await s.insertSession(session("f"));
      await s.insertTurn({ id: "t1", sessionId: "e", state: "queued", prompt: [], idempotencyKey: null, createdAt: "now" });
      await s.insertTurn({ id: "t2", sessionId: "e", state: "queued", prompt: [], idempotencyKey: null, createdAt: "now" });
      await s.insertEvents([
        ev("e", 1, { type: "model.call", dataJson: JSON.stringify({ usage: { inputTokens: 100, outputTokens: 20 }, costUsd: 0.25 }) }),
        ev("e", 2, { type: "model.call", dataJson: JSON.stringify({ usage: { inputTokens: 5 } }) }),
        // Only model.call events count as spend.
        ev("e", 3, { type: "message.delta", dataJson: JSON.stringify({ usage: { inputTokens: 1000 } }) }),
        ev("e", 4, { type: "permission.requested" }),
        ev("e", 5, { type: "permission.requested" }),
        ev("e", 6, { type: "permission.resolved" }),
        ev("f", 1, { type: "permission.requested" }),
        ev("f", 2, { type: "model.call", dataJson: JSON.stringify({ usage: { inputTokens: 1, outputTokens: 1 }, costUsd: 0.5 }) }),
        ev("g", 1, { type: "model.call", dataJson: JSON.stringify({ usage: { inputTokens: 7, outputTokens: 0 } }) }),
      ]);
      expect(await s.sessionTallies(["e", "f", "nope"])).toEqual(
        new Map([
          ["e", { lastSeq: 6, turns: 2, spent: { tokens: 125, costUsd: 0.25 }, pendingPermissions: 1 }],
          ["f", { lastSeq: 2, turns: 0, spent: { tokens: 2, costUsd: 0.5 }, pendingPermissions: 1 }],
          ["nope", zero],
        ]),
      );
      // A resolution without its request (a log cut short) never counts below zero.
      await s.insertEvents([ev("h", 1, { type: "permission.resolved" })]);
      expect((await s.sessionTallies(["h"])).get("h")?.pendingPermissions).toBe(0);
      await s.close();
    });

    it("purges old sessions in the given states with their turns and events, at most a limit at a time, never one it is told to keep", async () => {
      const s = await open();
      const old = "2026-01-01T00:00:00.000Z";
      const rows = [
        session("p_ended", { state: "ended", updatedAt: old }),
        session("p_failed", { state: "failed", updatedAt: "2026-01-02T00:00:00.000Z" }),
        session("p_kept", { state: "ended", updatedAt: old }),
        session("p_live", { state: "ready", updatedAt: old }),
        session("p_recent", { state: "ended", updatedAt: "2026-06-01T00:00:00.000Z" }),
      ];
      for (const r of rows) await s.insertSession(r);
      for (const r of rows) {
        await s.insertTurn({ id: `t_${r.id}`, sessionId: r.id, state: "completed", prompt: [], idempotencyKey: null, createdAt: old });
        await s.insertEvents([ev(r.id, 1), ev(r.id, 2)]);
      }
      const q = { states: ["ended", "failed", "interrupted"] as const, updatedBefore: "2026-03-01T00:00:00.000Z", keep: ["p_kept"] };
      // Oldest first, one at a time.
      expect((await s.purgeSessions({ ...q, limit: 1 })).map((r) => r.id)).toEqual(["p_ended"]);
      expect(await s.purgeSessions({ ...q, limit: 10 })).toEqual([rows[1]]);
      expect(await s.purgeSessions({ ...q, limit: 10 })).toEqual([]);
      // By id (a purge asked for): only that one, whatever its age; a live state never.
      const now = { ...q, updatedBefore: "9999-12-31T23:59:59.999Z", keep: [], limit: 1 };
      expect(await s.purgeSessions({ ...now, ids: ["p_live"] })).toEqual([]);
      expect((await s.purgeSessions({ ...now, ids: ["p_recent"] })).map((r) => r.id)).toEqual(["p_recent"]);
      expect(await s.getSession("p_recent")).toBeUndefined();
      await s.insertSession(rows[4]!);
      await s.insertTurn({ id: "t_p_recent", sessionId: "p_recent", state: "completed", prompt: [], idempotencyKey: null, createdAt: old });
      await s.insertEvents([ev("p_recent", 1), ev("p_recent", 2)]);
      for (const id of ["p_ended", "p_failed"]) {
        expect(await s.getSession(id)).toBeUndefined();
        expect(await s.getTurn(`t_${id}`)).toBeUndefined();
        expect(await s.eventsAfter(id, 0, 10)).toEqual([]);
      }
      for (const id of ["p_kept", "p_live", "p_recent"]) {
        expect(await s.getSession(id)).toBeDefined();
        expect(await s.eventsAfter(id, 0, 10)).toHaveLength(2);
        expect(await s.listTurns(id)).toHaveLength(1);
      }
      await s.close();
    });

    it("keeps sandbox rows until they are deleted, and moves one to another session", async () => {
      const s = await open();
      const sb = { id: "sb1", sessionId: "pool_1", driver: "bwrap", pid: 42, ref: null, startedAt: "2026-12-04T00:00:00.000Z" };
      await s.insertSandbox(sb);
      await s.insertSandbox({ ...sb, id: "sb2", pid: null, ref: "container-1" });
      await s.assignSandbox("sb1", "ses_1");
      expect((await s.listSandboxes()).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
        { ...sb, sessionId: "ses_1" },
        { ...sb, id: "sb2", pid: null, ref: "container-1" },
      ]);
      await s.deleteSandbox("sb1");
      expect((await s.listSandboxes()).map((x) => x.id)).toEqual(["sb2"]);
      await s.close();
    });

    it("answers a ping until it is closed", async () => {
      const s = await open();
      await expect(s.ping()).resolves.toBeUndefined();
      await s.close();
      await expect(s.ping()).rejects.toBeTruthy();
    });
  });
}
