import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EventLog } from "../../src/events/log.js";
import { Redactor } from "../../src/secrets/redact.js";
import { Retention } from "../../src/sessions/retention.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { session } from "../store/contract.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-01T00:00:00.000Z");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const home = mkdtempSync(join(tmpdir(), "berth-retention-"));
  const outside = mkdtempSync(join(tmpdir(), "berth-retention-outside-"));
  dirs.push(home, outside);
  const store = new SqliteStore(join(home, "berth.db"));
  const redactor = new Redactor();
  const events = new EventLog(store, redactor);
  const live = new Set<string>();
  const purged: number[] = [];
  const retention = new Retention({ store, events, home, retentionMs: 30 * DAY, live: () => live, logger: createLogger(redactor, { level: "silent" }), purged: (n) => purged.push(n), now: () => NOW });
  /** A session with its home, snapshots and (if berth made it) workspace on disk. */
  const add = async (id: string, over: Parameters<typeof session>[1] = {}) => {
    const ws = over.ownsWorkspace === false ? (over.workspace ?? outside) : join(home, "workspaces", id);
    await store.insertSession(session(id, { state: "ended", ownsWorkspace: true, workspace: ws, updatedAt: new Date(NOW - 31 * DAY).toISOString(), ...over }));
    for (const d of [join(home, "sessions", id), join(home, "snapshots", `${id}.git`), ...(over.ownsWorkspace === false ? [] : [ws])]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "file"), id);
    }
    events.append(id, { type: "message.delta", data: { text: "x" } });
    await events.flush();
  };
  return { home, outside, store, events, retention, live, purged, add };
}

describe("retention", () => {
  it("deletes sessions ended, failed or interrupted before the retention, with their rows and files, and nothing else", async () => {
    const t = setup();
    await t.add("ses_old1");
    await t.add("ses_old2", { state: "failed" });
    await t.add("ses_old3", { state: "interrupted" });
    await t.add("ses_recent", { updatedAt: new Date(NOW - 29 * DAY).toISOString() });
    await t.add("ses_running", { state: "running" });
    await t.add("ses_resuming", { state: "interrupted" });
    t.live.add("ses_resuming");
    writeFileSync(join(t.outside, "caller.txt"), "the caller's own");
    await t.add("ses_caller", { ownsWorkspace: false });

    expect(await t.retention.sweep()).toBe(4);
    expect(t.purged).toEqual([4]);
    for (const id of ["ses_old1", "ses_old2", "ses_old3", "ses_caller"]) {
      expect(await t.store.getSession(id)).toBeUndefined();
      expect(await t.store.eventsAfter(id, 0, 10)).toEqual([]);
      expect(existsSync(join(t.home, "sessions", id))).toBe(false);
      expect(existsSync(join(t.home, "snapshots", `${id}.git`))).toBe(false);
      expect(existsSync(join(t.home, "workspaces", id))).toBe(false);
    }
    // A caller's workspace is the caller's: never removed.
    expect(existsSync(join(t.outside, "caller.txt"))).toBe(true);
    for (const id of ["ses_recent", "ses_running", "ses_resuming"]) {
      expect(await t.store.getSession(id)).toBeDefined();
      expect(existsSync(join(t.home, "sessions", id, "file"))).toBe(true);
      expect(existsSync(join(t.home, "workspaces", id, "file"))).toBe(true);
    }
    expect(await t.retention.sweep()).toBe(0);
    expect(t.purged).toEqual([4]);
  });

  it("sweeps past one batch in one go", async () => {
    const t = setup();
    for (let i = 0; i < 130; i++) await t.store.insertSession(session(`ses_b${i}`, { state: "ended", updatedAt: new Date(NOW - 40 * DAY).toISOString() }));
    expect(await t.retention.sweep()).toBe(130);
    expect(await t.store.listSessions({ limit: 1000 })).toEqual([]);
  });

  it("removes a workspace only where berth makes them, whatever a row says", async () => {
    const t = setup();
    writeFileSync(join(t.outside, "keep.txt"), "not berth's");
    // Rows that claim berth made a workspace outside BERTH_HOME/workspaces (a tampered or foreign store).
    await t.add("ses_abs", { ownsWorkspace: true, workspace: t.outside });
    await t.add("ses_dots", { ownsWorkspace: true, workspace: join(t.home, "workspaces", relative(join(t.home, "workspaces"), t.outside)) });
    await t.add("ses_root", { ownsWorkspace: true, workspace: join(t.home, "workspaces") });
    // A link inside the workspaces directory to a directory outside: the link goes, not its target.
    mkdirSync(join(t.home, "workspaces"), { recursive: true });
    symlinkSync(t.outside, join(t.home, "workspaces", "ses_link"));
    await t.store.insertSession(session("ses_link", { state: "ended", ownsWorkspace: true, workspace: join(t.home, "workspaces", "ses_link"), updatedAt: new Date(NOW - 31 * DAY).toISOString() }));
    // An id that is not berth's: its row goes, no path is built from it (home/sessions/../keep would be home/keep).
    mkdirSync(join(t.home, "keep"));
    writeFileSync(join(t.home, "keep", "file"), "keep");
    await t.store.insertSession(session("../keep", { state: "ended", updatedAt: new Date(NOW - 31 * DAY).toISOString() }));

    expect(await t.retention.sweep()).toBe(5);
    expect(existsSync(join(t.outside, "keep.txt"))).toBe(true);
    expect(existsSync(join(t.home, "workspaces"))).toBe(true);
    expect(existsSync(join(t.home, "workspaces", "ses_link"))).toBe(false);
    expect(existsSync(join(t.home, "keep", "file"))).toBe(true);
  });
});
