import { chmodSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { SessionRecord } from "../../src/sessions/types.js";

const session = (id: string): SessionRecord => ({
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
});

describe("Store", () => {
  it("dedupes turns by idempotency key per session and numbers them", () => {
    const s = new SqliteStore(":memory:");
    s.insertSession(session("a"));
    s.insertSession(session("b"));
    const t = (id: string, sid: string, key: string | null) =>
      s.insertTurn({ id, sessionId: sid, state: "queued", prompt: [], idempotencyKey: key, createdAt: "now" });
    expect(t("t1", "a", "k")).toMatchObject({ created: true, turn: { id: "t1", idx: 0 } });
    expect(t("t2", "a", "k")).toMatchObject({ created: false, turn: { id: "t1", idx: 0 } });
    expect(t("t3", "a", null)).toMatchObject({ created: true, turn: { idx: 1 } });
    expect(t("t4", "a", null)).toMatchObject({ created: true, turn: { idx: 2 } });
    expect(t("t5", "b", "k")).toMatchObject({ created: true, turn: { id: "t5", idx: 0 } });
    expect(s.listTurns("a").map((x) => x.id)).toEqual(["t1", "t3", "t4"]);
  });

  it("finds live sessions for recovery", () => {
    const s = new SqliteStore(":memory:");
    s.insertSession(session("a"));
    s.insertSession(session("b"));
    s.setSessionState("b", "ended");
    expect(s.sessionsInStates(["starting", "ready", "running"]).map((r) => r.id)).toEqual(["a"]);
  });

  it("counts sessions by state, and pings until it is closed", () => {
    const s = new SqliteStore(":memory:");
    for (const id of ["a", "b", "c"]) s.insertSession(session(id));
    s.setSessionState("c", "ended");
    expect(s.sessionCountsByState()).toEqual({ starting: 2, ended: 1 });
    expect(() => s.ping()).not.toThrow();
    s.close();
    expect(() => s.ping()).toThrow();
  });
});

describe("Store file modes", () => {
  it("creates the database 0600 so SQLite's -wal and -shm are 0600 too, and tightens ones left 0644", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-store-modes-"));
    const path = join(dir, "berth.db");
    const mode = (p: string) => statSync(p).mode & 0o777;
    const old = process.umask(0o022);
    try {
      const a = new SqliteStore(path);
      a.insertEvents([{ sessionId: "s", seq: 1, ts: "t", type: "plan", dataJson: "{}" }]);
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect(mode(p), p).toBe(0o600);
      // As a crash (or an older berth) would leave them.
      for (const p of [path, `${path}-wal`, `${path}-shm`]) chmodSync(p, 0o644);
      const b = new SqliteStore(path);
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect(mode(p), p).toBe(0o600);
      a.close();
      b.close();
    } finally {
      process.umask(old);
    }
  });
});

describe("Store migrations", () => {
  it("a store written by an older berth reads as the current one writes: `error` events become `session.error`, once", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "berth-migrate-")), "berth.db");
    const old = new SqliteStore(path);
    old.insertSession(session("a"));
    old.insertEvents([
      { sessionId: "a", seq: 1, ts: "t", type: "session.status", dataJson: "{}" },
      { sessionId: "a", seq: 2, ts: "t", type: "error" as never, dataJson: '{"code":"turn_failed"}' },
    ]);
    old.close();
    // As an older berth left it: no migration applied.
    const Database = (await import("better-sqlite3")).default;
    const raw = new Database(path);
    raw.pragma("user_version = 0");
    raw.close();

    const s = new SqliteStore(path);
    expect(s.eventsAfter("a", 0, 10).map((e) => [e.seq, e.type, e.dataJson])).toEqual([
      [1, "session.status", "{}"],
      [2, "session.error", '{"code":"turn_failed"}'],
    ]);
    s.close();
    const again = new Database(path);
    expect(again.pragma("user_version", { simple: true })).toBe(1);
    again.close();
  });
});
