import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { EventType, SessionState, TurnState } from "../events/types.js";
import type { EventStore, StoredEvent } from "../events/store.js";
import type { NewTurn, SessionStore } from "../sessions/store.js";
import type { SandboxRecord, SessionRecord, TurnRecord } from "../sessions/types.js";

// The embedded store (docs/design.md, decision 2): one SQLite file in WAL mode. Writes are
// synchronous, so "committed before fanned out" holds by construction: the event log
// inserts, then notifies subscribers in the same tick.

/**
 * SQLite creates the -wal and -shm files with the database file's mode, and they hold the
 * same data (tool output, prompts): so the database is created 0600 before SQLite opens it,
 * and files a crash or an older berth left behind are made 0600 again.
 */
function privateFiles(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(p)) chmodSync(p, 0o600);
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  harness TEXT NOT NULL,
  harness_version TEXT NOT NULL,
  model TEXT NOT NULL,
  tier TEXT NOT NULL,
  workspace TEXT NOT NULL,
  owns_workspace INTEGER NOT NULL,
  state TEXT NOT NULL,
  config TEXT NOT NULL,
  acp_session_id TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  prompt TEXT NOT NULL,
  idempotency_key TEXT,
  stop_reason TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  UNIQUE (session_id, idx),
  UNIQUE (session_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS events (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts TEXT NOT NULL,
  turn_id TEXT,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sandboxes (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  driver TEXT NOT NULL,
  pid INTEGER,
  ref TEXT,
  started_at TEXT NOT NULL
);
`;

/** The embedded store: sessions, turns, sandboxes and events in one SQLite file. */
export class SqliteStore implements SessionStore, EventStore {
  private readonly db: Database.Database;
  private stmts;

  constructor(readonly path: string) {
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      privateFiles(path);
    }
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only an OS crash
    // or power loss can drop the last transactions. berth's durability claim is the former.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    migrate(this.db);
    const db = this.db;
    this.stmts = {
      insertEvent: db.prepare(
        "INSERT INTO events (session_id, seq, ts, turn_id, type, data) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      eventsAfter: db.prepare(
        "SELECT seq, ts, turn_id, type, data FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      maxSeq: db.prepare("SELECT MAX(seq) AS m FROM events WHERE session_id = ?"),
      modelSpend: db.prepare(
        `SELECT COALESCE(SUM(COALESCE(json_extract(data, '$.usage.inputTokens'), 0) + COALESCE(json_extract(data, '$.usage.outputTokens'), 0)), 0) AS tokens,
                COALESCE(SUM(COALESCE(json_extract(data, '$.costUsd'), 0)), 0) AS cost
           FROM events WHERE session_id = ? AND type = 'model.call'`,
      ),
      insertSession: db.prepare(
        `INSERT INTO sessions (id, harness, harness_version, model, tier, workspace, owns_workspace, state, config, acp_session_id, error, created_at, updated_at)
         VALUES (@id, @harness, @harnessVersion, @model, @tier, @workspace, @ownsWorkspace, @state, @config, @acpSessionId, @error, @createdAt, @updatedAt)`,
      ),
      getSession: db.prepare("SELECT * FROM sessions WHERE id = ?"),
      listSessions: db.prepare("SELECT * FROM sessions ORDER BY created_at DESC, id DESC LIMIT ?"),
      sessionsInStates: db.prepare("SELECT * FROM sessions WHERE state IN (SELECT value FROM json_each(?))"),
      setSessionState: db.prepare("UPDATE sessions SET state = ?, error = ?, updated_at = ? WHERE id = ?"),
      setAcpSession: db.prepare("UPDATE sessions SET acp_session_id = ?, updated_at = ? WHERE id = ?"),
      deleteSession: db.prepare("DELETE FROM sessions WHERE id = ?"),
      deleteEvents: db.prepare("DELETE FROM events WHERE session_id = ?"),
      insertTurn: db.prepare(
        `INSERT INTO turns (id, session_id, idx, state, prompt, idempotency_key, stop_reason, created_at, started_at, ended_at)
         VALUES (@id, @sessionId, @idx, @state, @prompt, @idempotencyKey, NULL, @createdAt, NULL, NULL)`,
      ),
      nextTurnIdx: db.prepare("SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM turns WHERE session_id = ?"),
      getTurn: db.prepare("SELECT * FROM turns WHERE id = ?"),
      turnByKey: db.prepare("SELECT * FROM turns WHERE session_id = ? AND idempotency_key = ?"),
      listTurns: db.prepare("SELECT * FROM turns WHERE session_id = ? ORDER BY idx"),
      turnCount: db.prepare("SELECT COUNT(*) AS n FROM turns WHERE session_id = ?"),
      turnsInStates: db.prepare(
        "SELECT * FROM turns WHERE session_id = ? AND state IN (SELECT value FROM json_each(?)) ORDER BY idx",
      ),
      startTurn: db.prepare("UPDATE turns SET state = 'running', started_at = ? WHERE id = ?"),
      endTurn: db.prepare("UPDATE turns SET state = ?, stop_reason = ?, ended_at = ? WHERE id = ?"),
      insertSandbox: db.prepare(
        "INSERT INTO sandboxes (id, session_id, driver, pid, ref, started_at) VALUES (@id, @sessionId, @driver, @pid, @ref, @startedAt)",
      ),
      deleteSandbox: db.prepare("DELETE FROM sandboxes WHERE id = ?"),
      assignSandbox: db.prepare("UPDATE sandboxes SET session_id = ? WHERE id = ?"),
      listSandboxes: db.prepare("SELECT * FROM sandboxes"),
      countByState: db.prepare("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state"),
      ping: db.prepare("SELECT 1"),
    };
  }

  close(): void {
    this.db.close();
  }

  private transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- events -------------------------------------------------------------

  insertEvents(evs: StoredEvent[]): void {
    const stmt = this.stmts.insertEvent;
    this.transaction(() => {
      for (const e of evs) stmt.run(e.sessionId, e.seq, e.ts, e.turnId ?? null, e.type, e.dataJson);
    });
  }

  modelSpend(sessionId: string): { tokens: number; costUsd: number } {
    const r = this.stmts.modelSpend.get(sessionId) as { tokens: number; cost: number };
    return { tokens: r.tokens, costUsd: r.cost };
  }

  sessionCountsByState(): Record<string, number> {
    const rows = this.stmts.countByState.all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  ping(): void {
    this.stmts.ping.get();
  }

  maxSeq(sessionId: string): number {
    const r = this.stmts.maxSeq.get(sessionId) as { m: number | null };
    return r.m ?? 0;
  }

  eventsAfter(sessionId: string, after: number, limit: number): StoredEvent[] {
    // The hot read path (SSE catch-up, JSON pages): the columns are selected by name, so
    // the row is mapped field by field rather than through camelCase().
    const rows = this.stmts.eventsAfter.all(sessionId, after, limit) as { seq: number; ts: string; turn_id: string | null; type: EventType; data: string }[];
    return rows.map((r) => ({ seq: r.seq, ts: r.ts, sessionId, turnId: r.turn_id ?? undefined, type: r.type, dataJson: r.data }));
  }

  // --- sessions -----------------------------------------------------------

  insertSession(s: SessionRecord): void {
    const { settings, ...rest } = s;
    this.stmts.insertSession.run({
      ...rest,
      ownsWorkspace: s.ownsWorkspace ? 1 : 0,
      config: JSON.stringify(settings),
    });
  }

  getSession(id: string): SessionRecord | undefined {
    const r = this.stmts.getSession.get(id);
    return r ? toSession(r) : undefined;
  }

  listSessions(limit = 100): SessionRecord[] {
    return this.stmts.listSessions.all(limit).map(toSession);
  }

  sessionsInStates(states: readonly SessionState[]): SessionRecord[] {
    return this.stmts.sessionsInStates.all(JSON.stringify(states)).map(toSession);
  }

  setSessionState(id: string, state: SessionState, error: string | null = null): void {
    this.stmts.setSessionState.run(state, error, new Date().toISOString(), id);
  }

  setAcpSessionId(id: string, acpSessionId: string): void {
    this.stmts.setAcpSession.run(acpSessionId, new Date().toISOString(), id);
  }

  deleteSession(id: string): void {
    this.transaction(() => {
      this.stmts.deleteEvents.run(id);
      this.stmts.deleteSession.run(id);
    });
  }

  // --- turns --------------------------------------------------------------

  insertTurn(t: NewTurn): { turn: TurnRecord; created: boolean } {
    return this.transaction(() => {
      if (t.idempotencyKey) {
        const existing = this.stmts.turnByKey.get(t.sessionId, t.idempotencyKey);
        if (existing) return { turn: toTurn(existing), created: false };
      }
      const { n } = this.stmts.nextTurnIdx.get(t.sessionId) as { n: number };
      this.stmts.insertTurn.run({ ...t, idx: n, prompt: JSON.stringify(t.prompt) });
      return { turn: toTurn(this.stmts.getTurn.get(t.id)), created: true };
    });
  }

  getTurn(id: string): TurnRecord | undefined {
    const r = this.stmts.getTurn.get(id);
    return r ? toTurn(r) : undefined;
  }

  turnCount(sessionId: string): number {
    return (this.stmts.turnCount.get(sessionId) as { n: number }).n;
  }

  listTurns(sessionId: string): TurnRecord[] {
    return this.stmts.listTurns.all(sessionId).map(toTurn);
  }

  turnsInStates(sessionId: string, states: readonly TurnState[]): TurnRecord[] {
    return this.stmts.turnsInStates.all(sessionId, JSON.stringify(states)).map(toTurn);
  }

  startTurn(id: string): void {
    this.stmts.startTurn.run(new Date().toISOString(), id);
  }

  endTurn(id: string, state: TurnState, stopReason: string | null): void {
    this.stmts.endTurn.run(state, stopReason, new Date().toISOString(), id);
  }

  // --- sandboxes (for reaping after a crash) ------------------------------

  insertSandbox(s: SandboxRecord): void {
    this.stmts.insertSandbox.run(s);
  }

  assignSandbox(id: string, sessionId: string): void {
    this.stmts.assignSandbox.run(sessionId, id);
  }

  deleteSandbox(id: string): void {
    this.stmts.deleteSandbox.run(id);
  }

  listSandboxes(): SandboxRecord[] {
    return (this.stmts.listSandboxes.all() as Row[]).map((r) => camelCase(r) as unknown as SandboxRecord);
  }
}

type Row = Record<string, unknown>;

/** Column names to field names (owns_workspace → ownsWorkspace): the one place rows are mapped. */
function camelCase(r: unknown): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r as Row)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

function toSession(r: unknown): SessionRecord {
  const { config, ownsWorkspace, ...rest } = camelCase(r);
  return { ...rest, ownsWorkspace: ownsWorkspace === 1, settings: JSON.parse(config as string) } as SessionRecord;
}

function toTurn(r: unknown): TurnRecord {
  const t = camelCase(r);
  return { ...t, prompt: JSON.parse(t.prompt as string) } as TurnRecord;
}

/**
 * Versioned data migrations (PRAGMA user_version), applied in order at open, each in one
 * transaction: a store from an older berth reads as the current one wrote it.
 */
const MIGRATIONS: ((db: Database.Database) => void)[] = [
  // 0.2: the `error` event became `session.error` (EventSource reserves `error` for itself).
  (db) => db.prepare("UPDATE events SET type = 'session.error' WHERE type = 'error'").run(),
];

function migrate(db: Database.Database): void {
  const at = db.pragma("user_version", { simple: true }) as number;
  for (let v = at; v < MIGRATIONS.length; v++)
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
}
