import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { EventType, SessionState, TurnState } from "../events/types.js";
import type { EventStore, StoredEvent } from "../events/store.js";
import type { NewTurn, PurgeQuery, SessionListQuery, SessionStore, SessionTallies } from "../sessions/store.js";
import type { SandboxRecord, SessionRecord, TurnRecord } from "../sessions/types.js";
import { camelCase, tallyMap, toSession, toTurn } from "./rows.js";

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
-- Pages of GET /v1/sessions, newest first (added in 0.2; created on open in older stores too).
CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at DESC, id DESC);
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
      // Per id: the last seq and the turn count through their indexes, and one pass over the
      // page's model calls and permission events for spend and unanswered requests.
      tallies: db.prepare(
        `SELECT ids.value AS id,
                COALESCE((SELECT MAX(seq) FROM events WHERE session_id = ids.value), 0) AS last_seq,
                (SELECT COUNT(*) FROM turns WHERE session_id = ids.value) AS turns,
                COALESCE(a.tokens, 0) AS tokens, COALESCE(a.cost, 0) AS cost, COALESCE(a.pending, 0) AS pending
           FROM json_each(@ids) AS ids
           LEFT JOIN (
             SELECT session_id,
                    SUM(CASE WHEN type = 'model.call' THEN COALESCE(json_extract(data, '$.usage.inputTokens'), 0) + COALESCE(json_extract(data, '$.usage.outputTokens'), 0) ELSE 0 END) AS tokens,
                    SUM(CASE WHEN type = 'model.call' THEN COALESCE(json_extract(data, '$.costUsd'), 0) ELSE 0 END) AS cost,
                    SUM(CASE type WHEN 'permission.requested' THEN 1 WHEN 'permission.resolved' THEN -1 ELSE 0 END) AS pending
               FROM events
              WHERE session_id IN (SELECT value FROM json_each(@ids)) AND type IN ('model.call', 'permission.requested', 'permission.resolved')
              GROUP BY session_id
           ) AS a ON a.session_id = ids.value`,
      ),
      insertSession: db.prepare(
        `INSERT INTO sessions (id, harness, harness_version, model, tier, workspace, owns_workspace, state, config, acp_session_id, error, created_at, updated_at)
         VALUES (@id, @harness, @harnessVersion, @model, @tier, @workspace, @ownsWorkspace, @state, @config, @acpSessionId, @error, @createdAt, @updatedAt)`,
      ),
      getSession: db.prepare("SELECT * FROM sessions WHERE id = ?"),
      listSessions: db.prepare(
        `SELECT * FROM sessions
          WHERE (@beforeAt IS NULL OR created_at < @beforeAt OR (created_at = @beforeAt AND id < @beforeId))
            AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
          ORDER BY created_at DESC, id DESC LIMIT @limit`,
      ),
      sessionsInStates: db.prepare("SELECT * FROM sessions WHERE state IN (SELECT value FROM json_each(?))"),
      setSessionState: db.prepare("UPDATE sessions SET state = ?, error = ?, updated_at = ? WHERE id = ?"),
      setAcpSession: db.prepare("UPDATE sessions SET acp_session_id = ?, updated_at = ? WHERE id = ?"),
      purgeCandidates: db.prepare(
        `SELECT * FROM sessions
          WHERE state IN (SELECT value FROM json_each(@states)) AND updated_at < @before AND id NOT IN (SELECT value FROM json_each(@keep))
            AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))
          ORDER BY updated_at LIMIT @limit`,
      ),
      // Its turns go with it (ON DELETE CASCADE).
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

  async close(): Promise<void> {
    this.db.close();
  }

  private transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- events -------------------------------------------------------------

  async insertEvents(evs: StoredEvent[]): Promise<void> {
    const stmt = this.stmts.insertEvent;
    this.transaction(() => {
      for (const e of evs) stmt.run(e.sessionId, e.seq, e.ts, e.turnId ?? null, e.type, e.dataJson);
    });
  }

  async sessionTallies(ids: readonly string[]): Promise<Map<string, SessionTallies>> {
    const rows = this.stmts.tallies.all({ ids: JSON.stringify(ids) }) as { id: string; last_seq: number; turns: number; tokens: number; cost: number; pending: number }[];
    return tallyMap(rows);
  }

  async sessionCountsByState(): Promise<Record<string, number>> {
    const rows = this.stmts.countByState.all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async ping(): Promise<void> {
    this.stmts.ping.get();
  }

  async maxSeq(sessionId: string): Promise<number> {
    const r = this.stmts.maxSeq.get(sessionId) as { m: number | null };
    return r.m ?? 0;
  }

  async eventsAfter(sessionId: string, after: number, limit: number): Promise<StoredEvent[]> {
    // The hot read path (SSE catch-up, JSON pages): the columns are selected by name, so
    // the row is mapped field by field rather than through camelCase().
    const rows = this.stmts.eventsAfter.all(sessionId, after, limit) as { seq: number; ts: string; turn_id: string | null; type: EventType; data: string }[];
    return rows.map((r) => ({ seq: r.seq, ts: r.ts, sessionId, turnId: r.turn_id ?? undefined, type: r.type, dataJson: r.data }));
  }

  // --- sessions -----------------------------------------------------------

  async insertSession(s: SessionRecord): Promise<void> {
    const { settings, ...rest } = s;
    this.stmts.insertSession.run({
      ...rest,
      ownsWorkspace: s.ownsWorkspace ? 1 : 0,
      config: JSON.stringify(settings),
    });
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = this.stmts.getSession.get(id);
    return r ? toSession(r) : undefined;
  }

  async listSessions(q: SessionListQuery = {}): Promise<SessionRecord[]> {
    return this.stmts.listSessions
      .all({ limit: q.limit ?? 100, beforeAt: q.before?.createdAt ?? null, beforeId: q.before?.id ?? null, states: q.states ? JSON.stringify(q.states) : null })
      .map(toSession);
  }

  async sessionsInStates(states: readonly SessionState[]): Promise<SessionRecord[]> {
    return this.stmts.sessionsInStates.all(JSON.stringify(states)).map(toSession);
  }

  async setSessionState(id: string, state: SessionState, error: string | null = null): Promise<void> {
    this.stmts.setSessionState.run(state, error, new Date().toISOString(), id);
  }

  async setAcpSessionId(id: string, acpSessionId: string): Promise<void> {
    this.stmts.setAcpSession.run(acpSessionId, new Date().toISOString(), id);
  }

  async purgeSessions(q: PurgeQuery): Promise<SessionRecord[]> {
    return this.transaction(() => {
      const rows = this.stmts.purgeCandidates.all({ states: JSON.stringify(q.states), before: q.updatedBefore, keep: JSON.stringify(q.keep ?? []), ids: q.ids ? JSON.stringify(q.ids) : null, limit: q.limit }).map(toSession);
      for (const r of rows) {
        this.stmts.deleteEvents.run(r.id);
        this.stmts.deleteSession.run(r.id);
      }
      return rows;
    });
  }

  // --- turns --------------------------------------------------------------

  async insertTurn(t: NewTurn): Promise<{ turn: TurnRecord; created: boolean }> {
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

  async getTurn(id: string): Promise<TurnRecord | undefined> {
    const r = this.stmts.getTurn.get(id);
    return r ? toTurn(r) : undefined;
  }

  async listTurns(sessionId: string): Promise<TurnRecord[]> {
    return this.stmts.listTurns.all(sessionId).map(toTurn);
  }

  async turnsInStates(sessionId: string, states: readonly TurnState[]): Promise<TurnRecord[]> {
    return this.stmts.turnsInStates.all(sessionId, JSON.stringify(states)).map(toTurn);
  }

  async startTurn(id: string): Promise<void> {
    this.stmts.startTurn.run(new Date().toISOString(), id);
  }

  async endTurn(id: string, state: TurnState, stopReason: string | null): Promise<void> {
    this.stmts.endTurn.run(state, stopReason, new Date().toISOString(), id);
  }

  // --- sandboxes (for reaping after a crash) ------------------------------

  async insertSandbox(s: SandboxRecord): Promise<void> {
    this.stmts.insertSandbox.run(s);
  }

  async assignSandbox(id: string, sessionId: string): Promise<void> {
    this.stmts.assignSandbox.run(sessionId, id);
  }

  async deleteSandbox(id: string): Promise<void> {
    this.stmts.deleteSandbox.run(id);
  }

  async listSandboxes(): Promise<SandboxRecord[]> {
    return this.stmts.listSandboxes.all().map((r) => camelCase(r) as unknown as SandboxRecord);
  }
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
