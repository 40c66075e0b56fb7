import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { BerthEvent, EventType, SessionState, TurnState } from "../events/types.js";

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

export interface SessionRow {
  id: string;
  harness: string;
  harnessVersion: string;
  model: string;
  tier: string;
  workspace: string;
  ownsWorkspace: boolean;
  state: SessionState;
  config: SessionConfig;
  acpSessionId: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Non-secret session settings, as stored. Secrets are held in memory only. */
export interface SessionConfig {
  systemPrompt?: string;
  permissionPolicy: "allow" | "deny" | "ask";
  permissionTimeoutMs: number;
  mcpServers: unknown[];
  env?: Record<string, string>;
  metadata?: Record<string, string>;
  /** The provider the session asked for by id, if any. */
  provider?: string;
  /** Protected workspace paths (PROTECTED_WORKSPACE_PATHS) this session may write. */
  writablePaths?: string[];
  /** Egress allowlist for the session's proxy (exact host or *.suffix, optional :port). */
  egressAllow?: string[];
  /** Let allowed names resolve to private/loopback addresses (never cloud metadata). */
  egressAllowPrivate?: boolean;
  /** Hosts the session may get git credentials for (normalized host[:port]). */
  gitHosts?: string[];
  /** Spending limits (sessions/budget.ts). */
  budget?: { maxTokens?: number; maxCostUsd?: number };
  /** Turn deadlines in ms (sessions/deadlines.ts); absent on sessions created before they existed. */
  deadlines?: { turnMs?: number; idleMs?: number; firstEventMs?: number };
}

export interface TurnRow {
  id: string;
  sessionId: string;
  idx: number;
  state: TurnState;
  prompt: unknown[];
  idempotencyKey: string | null;
  stopReason: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

export interface SandboxRow {
  id: string;
  sessionId: string;
  driver: string;
  pid: number | null;
  ref: string | null;
  startedAt: string;
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

export class Store {
  readonly db: Database.Database;
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
      turnsInStates: db.prepare(
        "SELECT * FROM turns WHERE session_id = ? AND state IN (SELECT value FROM json_each(?)) ORDER BY idx",
      ),
      startTurn: db.prepare("UPDATE turns SET state = 'running', started_at = ? WHERE id = ?"),
      endTurn: db.prepare("UPDATE turns SET state = ?, stop_reason = ?, ended_at = ? WHERE id = ?"),
      insertSandbox: db.prepare(
        "INSERT INTO sandboxes (id, session_id, driver, pid, ref, started_at) VALUES (@id, @sessionId, @driver, @pid, @ref, @startedAt)",
      ),
      deleteSandbox: db.prepare("DELETE FROM sandboxes WHERE id = ?"),
      listSandboxes: db.prepare("SELECT * FROM sandboxes"),
    };
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- events -------------------------------------------------------------

  insertEvent(sessionId: string, seq: number, ts: string, turnId: string | undefined, type: string, data: string): void {
    this.stmts.insertEvent.run(sessionId, seq, ts, turnId ?? null, type, data);
  }

  /** Many events, one transaction (the event log's group commit). */
  insertEvents(evs: StoredEvent[]): void {
    const stmt = this.stmts.insertEvent;
    this.transaction(() => {
      for (const e of evs) stmt.run(e.sessionId, e.seq, e.ts, e.turnId ?? null, e.type, e.dataJson);
    });
  }

  /** What a session's model calls have used so far (from its model.call events; the budget's starting point on resume). */
  modelSpend(sessionId: string): { tokens: number; costUsd: number } {
    const r = this.stmts.modelSpend.get(sessionId) as { tokens: number; cost: number };
    return { tokens: r.tokens, costUsd: r.cost };
  }

  /** How many sessions are in each state (for metrics). */
  sessionCountsByState(): Record<string, number> {
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state").all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Throws when the database cannot answer (for readiness). */
  ping(): void {
    this.db.prepare("SELECT 1").get();
  }

  maxSeq(sessionId: string): number {
    const r = this.stmts.maxSeq.get(sessionId) as { m: number | null };
    return r.m ?? 0;
  }

  /** Events with seq > after, as stored (data is the redacted JSON text). */
  eventsAfter(sessionId: string, after: number, limit: number): StoredEvent[] {
    const rows = this.stmts.eventsAfter.all(sessionId, after, limit) as {
      seq: number;
      ts: string;
      turn_id: string | null;
      type: string;
      data: string;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      sessionId,
      turnId: r.turn_id ?? undefined,
      type: r.type as EventType,
      dataJson: r.data,
    }));
  }

  // --- sessions -----------------------------------------------------------

  insertSession(s: SessionRow): void {
    this.stmts.insertSession.run({
      ...s,
      ownsWorkspace: s.ownsWorkspace ? 1 : 0,
      config: JSON.stringify(s.config),
    });
  }

  getSession(id: string): SessionRow | undefined {
    const r = this.stmts.getSession.get(id);
    return r ? toSession(r) : undefined;
  }

  listSessions(limit = 100): SessionRow[] {
    return this.stmts.listSessions.all(limit).map(toSession);
  }

  sessionsInStates(states: SessionState[]): SessionRow[] {
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

  /** Inserts a turn, or returns the existing one for the same idempotency key. */
  insertTurn(t: Omit<TurnRow, "idx" | "stopReason" | "startedAt" | "endedAt">): { turn: TurnRow; created: boolean } {
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

  getTurn(id: string): TurnRow | undefined {
    const r = this.stmts.getTurn.get(id);
    return r ? toTurn(r) : undefined;
  }

  listTurns(sessionId: string): TurnRow[] {
    return this.stmts.listTurns.all(sessionId).map(toTurn);
  }

  turnsInStates(sessionId: string, states: TurnState[]): TurnRow[] {
    return this.stmts.turnsInStates.all(sessionId, JSON.stringify(states)).map(toTurn);
  }

  startTurn(id: string): void {
    this.stmts.startTurn.run(new Date().toISOString(), id);
  }

  endTurn(id: string, state: TurnState, stopReason: string | null): void {
    this.stmts.endTurn.run(state, stopReason, new Date().toISOString(), id);
  }

  // --- sandboxes (for reaping after a crash) ------------------------------

  insertSandbox(s: SandboxRow): void {
    this.stmts.insertSandbox.run(s);
  }

  deleteSandbox(id: string): void {
    this.stmts.deleteSandbox.run(id);
  }

  listSandboxes(): SandboxRow[] {
    return (this.stmts.listSandboxes.all() as any[]).map((r) => ({
      id: r.id,
      sessionId: r.session_id,
      driver: r.driver,
      pid: r.pid,
      ref: r.ref,
      startedAt: r.started_at,
    }));
  }
}

export interface StoredEvent extends Omit<BerthEvent, "data"> {
  dataJson: string;
}

function toSession(r: any): SessionRow {
  return {
    id: r.id,
    harness: r.harness,
    harnessVersion: r.harness_version,
    model: r.model,
    tier: r.tier,
    workspace: r.workspace,
    ownsWorkspace: r.owns_workspace === 1,
    state: r.state,
    config: JSON.parse(r.config),
    acpSessionId: r.acp_session_id,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toTurn(r: any): TurnRow {
  return {
    id: r.id,
    sessionId: r.session_id,
    idx: r.idx,
    state: r.state,
    prompt: JSON.parse(r.prompt),
    idempotencyKey: r.idempotency_key,
    stopReason: r.stop_reason,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}
