// What the session domain needs from storage. Two stores implement it: the embedded SQLite
// file (store/sqlite.ts, the default) and PostgreSQL (store/postgres.ts, for several nodes).
// Every method is asynchronous because a networked database is; the SQLite store answers
// at once. No SQL lives outside src/store.
import type { SessionState, TurnState } from "../events/types.js";
import type { SandboxRecord, SessionRecord, TurnRecord } from "./types.js";

export type NewTurn = Omit<TurnRecord, "idx" | "stopReason" | "startedAt" | "endedAt">;

/** A page of sessions, newest first (created, then id: a keyset, so a page never skips or repeats one). */
export interface SessionListQuery {
  /** At most this many (default 100). */
  limit?: number;
  /** Only the sessions listed after this one. */
  before?: { createdAt: string; id: string };
  /** Only sessions in these states. */
  states?: readonly SessionState[];
}

/** Which sessions retention deletes: in one of `states`, not updated since `updatedBefore`, none of `keep`. */
export interface PurgeQuery {
  states: readonly SessionState[];
  /** An ISO time. */
  updatedBefore: string;
  /** At most this many per call. */
  limit: number;
  /** Ids never deleted (the sessions live on this node). */
  keep?: readonly string[];
  /** Only these sessions (a purge asked for by id). */
  ids?: readonly string[];
}

/** What a session's view shows beside its record, counted from its log and its turns. */
export interface SessionTallies {
  /** The last stored event's number (0: none). */
  lastSeq: number;
  turns: number;
  /** What its model calls used (its model.call events): the budget's starting point on resume. */
  spent: { tokens: number; costUsd: number };
  /** Permission requests its log shows unanswered (requested, not resolved). */
  pendingPermissions: number;
}

export interface SessionStore {
  insertSession(s: SessionRecord): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  listSessions(q?: SessionListQuery): Promise<SessionRecord[]>;
  sessionsInStates(states: readonly SessionState[]): Promise<SessionRecord[]>;
  setSessionState(id: string, state: SessionState, error?: string | null): Promise<void>;
  setAcpSessionId(id: string, acpSessionId: string): Promise<void>;
  /** How many sessions are in each state (for metrics). */
  sessionCountsByState(): Promise<Record<string, number>>;

  /** Inserts a turn with the next index, or returns the existing one for the same idempotency key. */
  insertTurn(t: NewTurn): Promise<{ turn: TurnRecord; created: boolean }>;
  getTurn(id: string): Promise<TurnRecord | undefined>;
  listTurns(sessionId: string): Promise<TurnRecord[]>;
  turnsInStates(sessionId: string, states: readonly TurnState[]): Promise<TurnRecord[]>;
  startTurn(id: string): Promise<void>;
  endTurn(id: string, state: TurnState, stopReason: string | null): Promise<void>;

  /**
   * The tallies of many sessions in one read (a page of GET /v1/sessions costs one query, not
   * several per session); an id with nothing stored gets zeros.
   */
  sessionTallies(ids: readonly string[]): Promise<Map<string, SessionTallies>>;

  /** Deletes the sessions `q` names with their turns and events, atomically; returns their records (their files are the caller's). */
  purgeSessions(q: PurgeQuery): Promise<SessionRecord[]>;

  /** A sandbox this node started (a shared store keeps each node's apart). */
  insertSandbox(s: SandboxRecord): Promise<void>;
  /** A pooled entry's sandbox becomes the claiming session's. */
  assignSandbox(id: string, sessionId: string): Promise<void>;
  deleteSandbox(id: string): Promise<void>;
  /** The sandboxes this node started (for reaping after a crash). */
  listSandboxes(): Promise<SandboxRecord[]>;

  /** Throws when the database cannot answer (for readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
