import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventLog, type WireEvent } from "../../src/events/log.js";
import { Redactor } from "../../src/secrets/redact.js";
import type { EventStore } from "../../src/events/store.js";
import { SqliteStore } from "../../src/store/sqlite.js";

function setup() {
  const path = join(mkdtempSync(join(tmpdir(), "berth-log-")), "t.db");
  const store = new SqliteStore(path);
  const redactor = new Redactor();
  return { path, store, redactor, log: new EventLog(store, redactor) };
}

/** A second process's view of the same database file (as another node sees a shared store). */
function otherNode(path: string, redactor: Redactor) {
  let notify: (sessionId: string, lastSeq: number) => void = () => {};
  const store: EventStore = Object.assign(new SqliteStore(path), {
    watchCommits: async (cb: typeof notify) => void (notify = cb),
  });
  const log = new EventLog(store, redactor);
  return { store, log, notify: (sid: string, seq: number) => notify(sid, seq) };
}

const afterIo = () => new Promise<void>((r) => setImmediate(r));

describe("EventLog", () => {
  it("numbers events per session from 1 without gaps and commits a tick's events before delivering them", async () => {
    const { path, store, log } = setup();
    const batches: number[][] = [];
    const committed: boolean[] = [];
    // Another connection to the file sees only what is committed.
    const reader = new Database(path, { readonly: true });
    log.subscribe("a", 0, (evs) => {
      // Committed before fan-out: the store already has every event of the batch.
      for (const e of evs) committed.push(reader.prepare("SELECT 1 FROM events WHERE session_id = 'a' AND seq = ?").get(e.seq) !== undefined);
      batches.push(evs.map((e) => e.seq));
    });
    await afterIo(); // the (empty) replay
    for (let i = 0; i < 5; i++) log.append("a", { type: "message.delta", data: { text: String(i) } });
    log.append("b", { type: "message.delta", data: {} });
    // Nothing is delivered (or stored) before the commit at the end of the tick.
    expect(batches).toEqual([]);
    expect(await store.maxSeq("a")).toBe(0);
    await afterIo();
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
    log.append("a", { type: "turn.ended", data: { stopReason: null } });
    await afterIo();
    expect(batches).toEqual([[1, 2, 3, 4, 5], [6]]);
    expect(committed.every(Boolean)).toBe(true);
    expect(await log.lastSeq("b")).toBe(1);
  });

  it("events appended in separate tasks of one I/O turn (as the ACP SDK delivers a harness's updates) share one commit", async () => {
    const { store, log } = setup();
    let commits = 0;
    const insert = store.insertEvents.bind(store);
    store.insertEvents = (evs) => {
      commits++;
      return insert(evs);
    };
    for (let i = 0; i < 100; i++) {
      log.append("a", { type: "message.delta", data: { text: String(i) } });
      await Promise.resolve(); // each update in its own microtask
    }
    expect(commits).toBe(0);
    await afterIo();
    expect(commits).toBe(1);
    expect(await store.maxSeq("a")).toBe(100);
  });

  it("replays then goes live with no gap and no duplicate, even with events still queued", async () => {
    const { log } = setup();
    for (let i = 0; i < 10; i++) log.append("s", { type: "message.delta", data: { i } });
    const got: WireEvent[] = [];
    const off = log.subscribe("s", 4, (evs) => got.push(...evs));
    for (let i = 10; i < 13; i++) log.append("s", { type: "message.delta", data: { i } });
    await log.flush();
    await afterIo();
    off();
    log.append("s", { type: "message.delta", data: { i: 99 } });
    expect(got.map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(JSON.parse(got[0]!.json)).toMatchObject({ seq: 5, sessionId: "s", type: "message.delta", data: { i: 4 } });
  });

  it("forgets a session's cached number without a gap or a repeat, even with its events still queued", async () => {
    const { log } = setup();
    log.append("s", { type: "message.delta", data: {} });
    log.append("s", { type: "message.delta", data: {} });
    await log.forget("s"); // the two are still queued: forget commits them first
    log.append("s", { type: "session.status", data: { state: "ended" } });
    expect(await log.lastSeq("s")).toBe(3);
    await log.forget("s");
    await log.forget("never-seen");
    expect((await log.read("s", 0)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("close() commits what is queued; an event reported after it (a late teardown) is not queued for a closed store", async () => {
    const { path, store, log } = setup();
    log.append("s", { type: "turn.started", turnId: "t1", data: { idx: 0 } });
    await log.close();
    expect(await store.maxSeq("s")).toBe(1);
    await store.close();
    log.append("s", { type: "turn.ended", turnId: "t1", data: { stopReason: "cancelled" } });
    await afterIo(); // nothing scheduled: a commit now would throw on the closed database
    expect(await new SqliteStore(path).maxSeq("s")).toBe(1);
  });

  it("continues numbering after a reopen of the same file", async () => {
    const { path, store, redactor, log } = setup();
    log.append("s", { type: "turn.started", turnId: "t1", data: { idx: 0 } });
    log.append("s", { type: "turn.ended", turnId: "t1", data: { stopReason: "end_turn" } });
    await log.flush();
    await store.close();
    const log2 = new EventLog(new SqliteStore(path), redactor);
    log2.append("s", { type: "session.status", data: { state: "ended" } });
    expect(await log2.lastSeq("s")).toBe(3);
    expect((await log2.read("s", 0)).map((e) => [e.seq, e.type, e.turnId])).toEqual([
      [1, "turn.started", "t1"],
      [2, "turn.ended", "t1"],
      [3, "session.status", undefined],
    ]);
  });

  it("redacts live secrets before anything is stored", async () => {
    const { store, redactor, log } = setup();
    const secret = "bgt_" + "s3cr3t".repeat(8);
    redactor.add(secret);
    log.append("s", { type: "tool.update", data: { toolCallId: "c1", text: `token is ${secret}` } });
    await log.flush();
    const stored = (await store.eventsAfter("s", 0, 10))[0]!.dataJson;
    expect(stored).not.toContain(secret);
    expect(stored).toContain("[REDACTED]");
  });

  it("a subscriber on another node gets a writer's events once each, in order, from commit notices (late, repeated or out of order)", async () => {
    const a = setup();
    const b = otherNode(a.path, a.redactor);
    await b.log.watch();
    for (let i = 0; i < 3; i++) a.log.append("s", { type: "message.delta", data: { i } });
    await a.log.flush();
    const got: number[] = [];
    b.log.subscribe("s", 1, (evs) => got.push(...evs.map((e) => e.seq)));
    await afterIo();
    expect(got).toEqual([2, 3]); // the replay
    for (let i = 3; i < 8; i++) a.log.append("s", { type: "message.delta", data: { i } });
    await a.log.flush();
    b.notify("s", 5); // a notice for part of the commit, then the rest, then an old one again
    b.notify("s", 8);
    b.notify("s", 3);
    await afterIo();
    await afterIo();
    expect(got).toEqual([2, 3, 4, 5, 6, 7, 8]);
    b.notify("s", 99); // ahead of what is stored: nothing to give until it is
    await afterIo();
    expect(got).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  it("a subscriber that joins while a commit is in flight misses nothing and repeats nothing", async () => {
    const { store, log } = setup();
    const insert = store.insertEvents.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.insertEvents = async (evs) => {
      await gate; // a slow database
      return insert(evs);
    };
    for (let i = 0; i < 5; i++) log.append("s", { type: "message.delta", data: { i } });
    const flushing = log.flush();
    const got: number[] = [];
    log.subscribe("s", 0, (evs) => got.push(...evs.map((e) => e.seq)));
    log.append("s", { type: "message.delta", data: { i: 5 } });
    release();
    await flushing;
    await log.flush();
    await afterIo();
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("a commit that fails is retried, and nothing of it is delivered before it lands", async () => {
    const { store } = setup();
    const errors: number[] = [];
    const log = new EventLog(store, new Redactor(), { onCommitError: (_e, attempt) => errors.push(attempt) });
    const insert = store.insertEvents.bind(store);
    let failures = 2;
    store.insertEvents = async (evs) => {
      if (failures-- > 0) throw Object.assign(new Error("connection reset"), { code: "ECONNRESET" });
      return insert(evs);
    };
    const got: number[] = [];
    log.subscribe("s", 0, (evs) => got.push(...evs.map((e) => e.seq)));
    log.append("s", { type: "message.delta", data: {} });
    await afterIo();
    expect(got).toEqual([]);
    await log.flush();
    expect(errors).toEqual([1, 2]);
    await afterIo();
    expect(got).toEqual([1]);
  });

  it("subscribers on another node following live share one read per commit notice", async () => {
    const a = setup();
    const b = otherNode(a.path, a.redactor);
    await b.log.watch();
    const got: WireEvent[][][] = Array.from({ length: 10 }, () => []);
    for (let i = 0; i < 10; i++) b.log.subscribe("s", 0, (evs) => got[i]!.push(evs));
    await afterIo(); // the (empty) replays
    let reads = 0;
    const read = b.store.eventsAfter.bind(b.store);
    b.store.eventsAfter = (...args) => (reads++, read(...args));
    for (let i = 0; i < 5; i++) a.log.append("s", { type: "message.delta", data: { i } });
    await a.log.flush();
    b.notify("s", 5);
    await afterIo();
    await afterIo();
    expect(reads).toBe(1);
    for (const batches of got) expect(batches.flat().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    // The same page object for all: the SSE frame is built once.
    expect(new Set(got.map((batches) => batches[0])).size).toBe(1);
  });
});
