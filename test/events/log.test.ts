import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventLog, type WireEvent } from "../../src/events/log.js";
import { Redactor } from "../../src/secrets/redact.js";
import { SqliteStore } from "../../src/store/sqlite.js";

function setup() {
  const path = join(mkdtempSync(join(tmpdir(), "berth-log-")), "t.db");
  const store = new SqliteStore(path);
  const redactor = new Redactor();
  return { path, store, redactor, log: new EventLog(store, redactor) };
}

const afterIo = () => new Promise<void>((r) => setImmediate(r));

describe("EventLog", () => {
  it("numbers events per session from 1 without gaps and commits a tick's events before delivering them", async () => {
    const { store, log } = setup();
    const batches: number[][] = [];
    log.subscribe("a", 0, (evs) => {
      // Committed before fan-out: the store already has every event of the batch.
      for (const e of evs) expect(store.eventsAfter("a", e.seq - 1, 1)[0]?.seq).toBe(e.seq);
      batches.push(evs.map((e) => e.seq));
    });
    for (let i = 0; i < 5; i++) log.append("a", { type: "message.delta", data: { text: String(i) } });
    log.append("b", { type: "message.delta", data: {} });
    // Nothing is delivered (or stored) before the commit at the end of the tick.
    expect(batches).toEqual([]);
    expect(store.maxSeq("a")).toBe(0);
    await afterIo();
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
    log.append("a", { type: "turn.ended", data: { stopReason: null } });
    await afterIo();
    expect(batches).toEqual([[1, 2, 3, 4, 5], [6]]);
    expect(log.lastSeq("b")).toBe(1);
  });

  it("events appended in separate tasks of one I/O turn (as the ACP SDK delivers a harness's updates) share one commit", async () => {
    const { store, log } = setup();
    let commits = 0;
    const insert = store.insertEvents.bind(store);
    store.insertEvents = (evs) => {
      commits++;
      insert(evs);
    };
    for (let i = 0; i < 100; i++) {
      log.append("a", { type: "message.delta", data: { text: String(i) } });
      await Promise.resolve(); // each update in its own microtask
    }
    expect(commits).toBe(0);
    await afterIo();
    expect(commits).toBe(1);
    expect(store.maxSeq("a")).toBe(100);
  });

  it("replays then goes live with no gap and no duplicate, even with events still queued", () => {
    const { log } = setup();
    for (let i = 0; i < 10; i++) log.append("s", { type: "message.delta", data: { i } });
    const got: WireEvent[] = [];
    const off = log.subscribe("s", 4, (evs) => got.push(...evs));
    for (let i = 10; i < 13; i++) log.append("s", { type: "message.delta", data: { i } });
    log.flush();
    off();
    log.append("s", { type: "message.delta", data: { i: 99 } });
    expect(got.map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(JSON.parse(got[0]!.json)).toMatchObject({ seq: 5, sessionId: "s", type: "message.delta", data: { i: 4 } });
  });

  it("forgets a session's cached number without a gap or a repeat, even with its events still queued", () => {
    const { log } = setup();
    log.append("s", { type: "message.delta", data: {} });
    log.append("s", { type: "message.delta", data: {} });
    log.forget("s"); // the two are still queued: forget commits them first
    expect(log.append("s", { type: "session.status", data: { state: "ended" } }).seq).toBe(3);
    log.forget("s");
    log.forget("never-seen");
    expect(log.read("s", 0).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("close() commits what is queued; an event reported after it (a late teardown) is not queued for a closed store", async () => {
    const { path, store, log } = setup();
    log.append("s", { type: "turn.started", turnId: "t1", data: { idx: 0 } });
    log.close();
    expect(store.maxSeq("s")).toBe(1);
    store.close();
    log.append("s", { type: "turn.ended", turnId: "t1", data: { stopReason: "cancelled" } });
    await afterIo(); // nothing scheduled: a commit now would throw on the closed database
    expect(new SqliteStore(path).maxSeq("s")).toBe(1);
  });

  it("continues numbering after a reopen of the same file", () => {
    const { path, store, redactor, log } = setup();
    log.append("s", { type: "turn.started", turnId: "t1", data: { idx: 0 } });
    log.append("s", { type: "turn.ended", turnId: "t1", data: { stopReason: "end_turn" } });
    log.flush();
    store.close();
    const log2 = new EventLog(new SqliteStore(path), redactor);
    expect(log2.append("s", { type: "session.status", data: { state: "ended" } }).seq).toBe(3);
    expect(log2.read("s", 0).map((e) => [e.seq, e.type, e.turnId])).toEqual([
      [1, "turn.started", "t1"],
      [2, "turn.ended", "t1"],
      [3, "session.status", undefined],
    ]);
  });

  it("redacts live secrets before anything is stored", () => {
    const { store, redactor, log } = setup();
    const secret = "bgt_" + "s3cr3t".repeat(8);
    redactor.add(secret);
    log.append("s", { type: "tool.update", data: { toolCallId: "c1", text: `token is ${secret}` } });
    log.flush();
    const stored = store.eventsAfter("s", 0, 10)[0]!.dataJson;
    expect(stored).not.toContain(secret);
    expect(stored).toContain("[REDACTED]");
  });
});
