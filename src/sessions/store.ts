// What the session domain needs from storage. The embedded SQLite store implements it
// (store/sqlite.ts); another database plugs in by implementing this and events/store.ts.
import type { SessionState, TurnState } from "../events/types.js";
import type { SandboxRecord, SessionRecord, TurnRecord } from "./types.js";

export type NewTurn = Omit<TurnRecord, "idx" | "stopReason" | "startedAt" | "endedAt">;

export interface SessionStore {
  insertSession(s: SessionRecord): void;
  getSession(id: string): SessionRecord | undefined;
  /** Newest first. */
  listSessions(limit?: number): SessionRecord[];
  sessionsInStates(states: readonly SessionState[]): SessionRecord[];
  setSessionState(id: string, state: SessionState, error?: string | null): void;
  setAcpSessionId(id: string, acpSessionId: string): void;
  /** How many sessions are in each state (for metrics). */
  sessionCountsByState(): Record<string, number>;

  /** Inserts a turn with the next index, or returns the existing one for the same idempotency key. */
  insertTurn(t: NewTurn): { turn: TurnRecord; created: boolean };
  getTurn(id: string): TurnRecord | undefined;
  listTurns(sessionId: string): TurnRecord[];
  turnCount(sessionId: string): number;
  turnsInStates(sessionId: string, states: readonly TurnState[]): TurnRecord[];
  startTurn(id: string): void;
  endTurn(id: string, state: TurnState, stopReason: string | null): void;

  /** What a session's model calls have used so far (from its model.call events; the budget's starting point on resume). */
  modelSpend(sessionId: string): { tokens: number; costUsd: number };

  insertSandbox(s: SandboxRecord): void;
  /** A pooled entry's sandbox becomes the claiming session's. */
  assignSandbox(id: string, sessionId: string): void;
  deleteSandbox(id: string): void;
  listSandboxes(): SandboxRecord[];

  /** Throws when the database cannot answer (for readiness). */
  ping(): void;
  close(): void;
}
