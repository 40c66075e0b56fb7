// The session domain's records: what berth keeps of a session, its turns and its sandboxes.
// The store persists these as they are; the API shows them through sessions/contract.ts.
import { SESSION_STATES, type SessionState, type TurnState } from "../events/types.js";
import type { Tier } from "../sandboxes/types.js";
import type { BudgetLimits } from "./budget.js";
import type { DeadlineLimits } from "./deadlines.js";
import type { PermissionPolicy } from "./contract.js";

export interface SessionRecord {
  id: string;
  harness: string;
  harnessVersion: string;
  model: string;
  tier: Tier;
  workspace: string;
  /** True when berth made the workspace (and removes it when the session ends). */
  ownsWorkspace: boolean;
  state: SessionState;
  settings: SessionSettings;
  acpSessionId: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Non-secret session settings, as stored. Secrets are held in memory only. */
export interface SessionSettings {
  systemPrompt?: string;
  permissionPolicy: PermissionPolicy;
  permissionTimeoutMs: number;
  mcpServers: unknown[];
  env?: Record<string, string>;
  metadata?: Record<string, string>;
  /** The provider the session asked for by id, if any. */
  provider?: string;
  /** The provider its model resolved to at creation (shown; resume resolves again). */
  route?: string;
  /** Protected workspace paths (PROTECTED_WORKSPACE_PATHS) this session may write. */
  writablePaths?: string[];
  /** Egress allowlist for the session's proxy (exact host or *.suffix, optional :port). */
  egressAllow?: string[];
  /** Let allowed names resolve to private/loopback addresses (never cloud metadata). */
  egressAllowPrivate?: boolean;
  /** Hosts the session may get git credentials for (normalized host[:port]). */
  gitHosts?: string[];
  /** Spending limits (sessions/budget.ts). */
  budget?: BudgetLimits;
  /** Turn deadlines in ms (sessions/deadlines.ts); absent on sessions created before they existed. */
  deadlines?: DeadlineLimits;
  /** How a fresh workspace is seeded before the harness starts (absent: empty, or a caller's host path). */
  seed?: { git: { url: string; ref?: string; depth?: number } } | { upload: true } | { fork: { sessionId: string; turnId?: string } };
  /** The session's Agent Skills (their files are in its directory, mounted read-only). */
  skills?: { name: string; source: "operator" | "upload" }[];
  /** How the session started: from a warm pool (hit) or cold (miss, and why); absent without a pool for its harness and tier. */
  pool?: { outcome: "hit" | "miss"; pool?: string; reason?: string };
}

export interface TurnRecord {
  id: string;
  sessionId: string;
  idx: number;
  state: TurnState;
  /** ACP content blocks. */
  prompt: unknown[];
  idempotencyKey: string | null;
  stopReason: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

/** A started sandbox, kept so a restarted berth can reap what a crash left running. */
export interface SandboxRecord {
  id: string;
  sessionId: string;
  driver: string;
  pid: number | null;
  ref: string | null;
  startedAt: string;
}

/** The session states in which a session holds (or is getting) a sandbox. */
export const LIVE_SESSION_STATES: readonly SessionState[] = ["starting", "ready", "running"];

/** The others: nothing runs for the session (an interrupted or failed one can be resumed). */
export const SETTLED_SESSION_STATES: readonly SessionState[] = SESSION_STATES.filter((s) => !LIVE_SESSION_STATES.includes(s));
