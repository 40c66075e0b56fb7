import { chmodSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite.js";
import { session, storeContract } from "./contract.js";

storeContract("SQLite", async () => new SqliteStore(":memory:"));

describe("Store file modes", () => {
  it("creates the database 0600 so SQLite's -wal and -shm are 0600 too, and tightens ones left 0644", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-store-modes-"));
    const path = join(dir, "berth.db");
    const mode = (p: string) => statSync(p).mode & 0o777;
    const old = process.umask(0o022);
    try {
      const a = new SqliteStore(path);
      await a.insertEvents([{ sessionId: "s", seq: 1, ts: "t", type: "plan", dataJson: "{}" }]);
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect(mode(p), p).toBe(0o600);
      // As a crash (or an older berth) would leave them.
      for (const p of [path, `${path}-wal`, `${path}-shm`]) chmodSync(p, 0o644);
      const b = new SqliteStore(path);
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect(mode(p), p).toBe(0o600);
      await a.close();
      await b.close();
    } finally {
      process.umask(old);
    }
  });
});

describe("Store migrations", () => {
  it("a store written by an older berth reads as the current one writes: `error` events become `session.error`, once", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "berth-migrate-")), "berth.db");
    const old = new SqliteStore(path);
    await old.insertSession(session("a"));
    await old.insertEvents([
      { sessionId: "a", seq: 1, ts: "t", type: "session.status", dataJson: "{}" },
      { sessionId: "a", seq: 2, ts: "t", type: "error" as never, dataJson: '{"code":"turn_failed"}' },
    ]);
    await old.close();
    // As an older berth left it: no migration applied.
    const Database = (await import("better-sqlite3")).default;
    const raw = new Database(path);
    raw.pragma("user_version = 0");
    raw.close();

    const s = new SqliteStore(path);
    expect((await s.eventsAfter("a", 0, 10)).map((e) => [e.seq, e.type, e.dataJson])).toEqual([
      [1, "session.status", "{}"],
      [2, "session.error", '{"code":"turn_failed"}'],
    ]);
    await s.close();
    const again = new Database(path);
    expect(again.pragma("user_version", { simple: true })).toBe(1);
    again.close();
  });
});
