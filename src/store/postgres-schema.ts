// PostgreSQL schema, as versioned migrations (berth_schema holds the applied versions).
// Each runs in its own transaction, under an advisory lock, so nodes starting together apply
// it once. Columns mirror the SQLite store's, so both stores return identical records. The
// SQL is written out here, not shared with store/sqlite.ts: an applied migration is history,
// and must not change when the SQLite schema does.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "sessions, turns, events, sandboxes",
    sql: `
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  harness TEXT NOT NULL,
  harness_version TEXT NOT NULL,
  model TEXT NOT NULL,
  tier TEXT NOT NULL,
  workspace TEXT NOT NULL,
  owns_workspace BOOLEAN NOT NULL,
  state TEXT NOT NULL,
  config TEXT NOT NULL,
  acp_session_id TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  -- the node that runs the session's sandbox and harness (sessions/ownership in docs/scale-out.md)
  owner_node TEXT
);
CREATE INDEX sessions_created ON sessions (created_at DESC, id DESC);
CREATE INDEX sessions_owner ON sessions (owner_node) WHERE owner_node IS NOT NULL;
CREATE TABLE turns (
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
CREATE TABLE events (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts TEXT NOT NULL,
  turn_id TEXT,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE TABLE sandboxes (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  driver TEXT NOT NULL,
  pid INTEGER,
  ref TEXT,
  started_at TEXT NOT NULL,
  node TEXT NOT NULL
);
CREATE INDEX sandboxes_node ON sandboxes (node);
`,
  },
  {
    version: 2,
    name: "nodes (leases) and commands",
    sql: `
-- One row per berth node: its lease is expires_at, renewed by its heartbeat, in the database's clock.
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  started_at TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  version TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  pid INTEGER,
  -- a random mark the node wrote under its BERTH_HOME: a node that cannot read it there does not share that home
  home_mark TEXT
);
-- Calls for the node that owns a session (a turn, a cancel, a permission answer, an end), and their results.
CREATE TABLE commands (
  id BIGSERIAL PRIMARY KEY,
  node TEXT NOT NULL,
  session_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  args TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  taken_at TIMESTAMPTZ,
  done_at TIMESTAMPTZ,
  result TEXT
);
CREATE INDEX commands_waiting ON commands (node, id) WHERE taken_at IS NULL;
`,
  },
];

/** The advisory lock key migrations are applied under (any constant: it only has to be the same on every node). */
export const MIGRATION_LOCK = 0x62657274; // "bert"
