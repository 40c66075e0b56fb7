import { hostname } from "node:os";
import pg from "pg";
import type { ClusterCommand, ClusterStore, NodeLease } from "../cluster/types.js";
import type { EventStore, StoredEvent } from "../events/store.js";
import type { EventType, SessionState, TurnState } from "../events/types.js";
import type { NewTurn, PurgeQuery, SessionListQuery, SessionStore, SessionTallies } from "../sessions/store.js";
import type { SandboxRecord, SessionRecord, TurnRecord } from "../sessions/types.js";
import { MIGRATION_LOCK, MIGRATIONS } from "./postgres-schema.js";
import { camelCase, tallyMap, toSession, toTurn } from "./rows.js";

// The shared store for several berth nodes (BERTH_DATABASE_URL=postgres://…): the same
// records as the SQLite store, plus node leases, session owners and commands. Live events
// cross nodes as NOTIFY berth_events '<node> <session> <last seq>', sent in the inserting
// transaction, so a notice never arrives before its events are readable.

const EVENTS_CHANNEL = "berth_events";
const COMMANDS_CHANNEL = "berth_commands";
const RESULTS_CHANNEL = "berth_results";
/** The advisory lock nodes take, one at a time, to adopt a dead node's sessions. */
const ADOPTION_LOCK = 0x62657275;

export interface PostgresStoreOptions {
  url: string;
  nodeId: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Told about a lost LISTEN connection and each reconnect (it reconnects by itself). */
  onListenerError?: (e: Error) => void;
}

/** What `berth db status` shows. */
export interface SchemaStatus {
  applied: { version: number; name: string; appliedAt: string }[];
  pending: { version: number; name: string }[];
}

export class PostgresStore implements SessionStore, EventStore, ClusterStore {
  readonly nodeId: string;
  private pool: pg.Pool;
  /** What this node joined the cluster with, so that a rejoin writes the same row. */
  private joined: { version: string; homeMark: string | null } = { version: "", homeMark: null };
  private listener?: pg.Client;
  private listening?: Promise<void>;
  private closed = false;
  private commitHandlers: ((sessionId: string, lastSeq: number) => void)[] = [];
  private commandHandlers?: { commands: () => void; result: (id: string) => void };
  /** Told after the LISTEN connection came back: notices may have been missed meanwhile. */
  private resyncHandlers: (() => void)[] = [];

  constructor(private readonly opts: PostgresStoreOptions) {
    this.nodeId = opts.nodeId;
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    // An idle pooled connection that dies (a database restart) is replaced; it must not crash the server.
    this.pool.on("error", (e) => opts.onListenerError?.(e));
  }

  // --- schema ------------------------------------------------------------------

  /**
   * Applies the migrations not yet applied, each in its own transaction under an advisory lock
   * (nodes starting together apply each once). Returns the versions applied.
   */
  async migrate(): Promise<number[]> {
    const done: number[] = [];
    for (const m of MIGRATIONS) {
      const applied = await this.tx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
        await c.query("CREATE TABLE IF NOT EXISTS berth_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        if ((await c.query("SELECT 1 FROM berth_schema WHERE version = $1", [m.version])).rowCount) return false;
        await c.query(m.sql).catch((e: Error) => {
          throw new Error(`migration ${m.version} (${m.name}) failed: ${e.message}`);
        });
        await c.query("INSERT INTO berth_schema (version, name) VALUES ($1, $2)", [m.version, m.name]);
        return true;
      });
      if (applied) done.push(m.version);
    }
    return done;
  }

  async schemaStatus(): Promise<SchemaStatus> {
    const exists = (await this.pool.query("SELECT to_regclass('berth_schema') IS NOT NULL AS e")).rows[0] as { e: boolean };
    const rows = exists.e
      ? (await this.pool.query<{ version: number; name: string; applied_at: Date }>("SELECT version, name, applied_at FROM berth_schema ORDER BY version")).rows
      : [];
    const have = new Set(rows.map((r) => r.version));
    return {
      applied: rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at.toISOString() })),
      pending: MIGRATIONS.filter((m) => !have.has(m.version)).map((m) => ({ version: m.version, name: m.name })),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener?.end().catch(() => {});
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  // --- notifications -------------------------------------------------------------

  /** One connection LISTENs for the node (events, commands, results); it reconnects after a loss. */
  private listen(): Promise<void> {
    this.listening ??= this.connectListener().catch((e: Error) => {
      this.listening = undefined;
      throw e;
    });
    return this.listening;
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url });
    await client.connect();
    client.on("notification", (n) => this.onNotification(n.channel, n.payload ?? ""));
    const lost = (e?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.listening = undefined;
      client.removeAllListeners("notification");
      void client.end().catch(() => {});
      if (this.closed) return;
      this.opts.onListenerError?.(e ?? new Error("the LISTEN connection ended"));
      const retry = () => {
        if (this.closed) return;
        this.listen().then(
          () => this.resyncHandlers.forEach((h) => h()),
          () => setTimeout(retry, 1000).unref(),
        );
      };
      setTimeout(retry, 200).unref();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${COMMANDS_CHANNEL}; LISTEN ${RESULTS_CHANNEL}`);
    this.listener = client;
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === EVENTS_CHANNEL) {
      const [node, sessionId, seq] = payload.split(" ");
      if (!sessionId || node === this.nodeId) return; // this node delivered its own commits already
      for (const h of this.commitHandlers) h(sessionId, Number(seq));
    } else if (channel === COMMANDS_CHANNEL) {
      if (payload === this.nodeId) this.commandHandlers?.commands();
    } else if (channel === RESULTS_CHANNEL) this.commandHandlers?.result(payload);
  }

  async watchCommits(onCommit: (sessionId: string, lastSeq: number) => void): Promise<void> {
    this.commitHandlers.push(onCommit);
    await this.listen();
  }

  /** Called after the LISTEN connection was lost and came back (notices sent meanwhile were missed). */
  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  async onCommandSignals(handlers: { commands: () => void; result: (id: string) => void }): Promise<void> {
    this.commandHandlers = handlers;
    await this.listen();
  }

  // --- events ------------------------------------------------------------------

  async insertEvents(evs: StoredEvent[]): Promise<void> {
    if (evs.length === 0) return;
    const last = new Map<string, number>();
    for (const e of evs) last.set(e.sessionId, Math.max(last.get(e.sessionId) ?? 0, e.seq));
    // One statement, so one round trip and its own transaction: the rows, and a notice per
    // session that is delivered at its commit (a data-modifying WITH runs exactly once).
    await this.pool.query(
      `WITH inserted AS (
         INSERT INTO events (session_id, seq, ts, turn_id, type, data)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[]))
       SELECT pg_notify($7, n) FROM unnest($8::text[]) AS n`,
      [
        evs.map((e) => e.sessionId),
        evs.map((e) => e.seq),
        evs.map((e) => e.ts),
        evs.map((e) => e.turnId ?? null),
        evs.map((e) => e.type),
        evs.map((e) => e.dataJson),
        EVENTS_CHANNEL,
        [...last].map(([sid, seq]) => `${this.nodeId} ${sid} ${seq}`),
      ],
    );
  }

  async eventsAfter(sessionId: string, after: number, limit: number): Promise<StoredEvent[]> {
    const r = await this.pool.query<{ seq: number; ts: string; turn_id: string | null; type: EventType; data: string }>(
      "SELECT seq, ts, turn_id, type, data FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
      [sessionId, after, limit],
    );
    return r.rows.map((x) => ({ seq: x.seq, ts: x.ts, sessionId, turnId: x.turn_id ?? undefined, type: x.type, dataJson: x.data }));
  }

  async maxSeq(sessionId: string): Promise<number> {
    const r = await this.pool.query<{ m: number | null }>("SELECT MAX(seq) AS m FROM events WHERE session_id = $1", [sessionId]);
    return r.rows[0]?.m ?? 0;
  }

  async sessionTallies(ids: readonly string[]): Promise<Map<string, SessionTallies>> {
    // As in the SQLite store: last seq and turn count per id through their indexes, one pass
    // over the page's model calls and permission events.
    const r = await this.pool.query(
      `SELECT ids.id,
              COALESCE((SELECT MAX(seq) FROM events WHERE session_id = ids.id), 0) AS last_seq,
              (SELECT COUNT(*) FROM turns WHERE session_id = ids.id) AS turns,
              COALESCE(a.tokens, 0) AS tokens, COALESCE(a.cost, 0) AS cost, COALESCE(a.pending, 0) AS pending
         FROM unnest($1::text[]) AS ids(id)
         LEFT JOIN (
           SELECT session_id,
                  SUM(COALESCE((data::jsonb->'usage'->>'inputTokens')::numeric, 0) + COALESCE((data::jsonb->'usage'->>'outputTokens')::numeric, 0)) FILTER (WHERE type = 'model.call') AS tokens,
                  SUM(COALESCE((data::jsonb->>'costUsd')::numeric, 0)) FILTER (WHERE type = 'model.call') AS cost,
                  COUNT(*) FILTER (WHERE type = 'permission.requested') - COUNT(*) FILTER (WHERE type = 'permission.resolved') AS pending
             FROM events
            WHERE session_id = ANY($1::text[]) AND type IN ('model.call', 'permission.requested', 'permission.resolved')
            GROUP BY session_id
         ) AS a ON a.session_id = ids.id`,
      [ids],
    );
    return tallyMap(r.rows);
  }

  // --- sessions ----------------------------------------------------------------

  async insertSession(s: SessionRecord): Promise<void> {
    // The node that creates a session owns it.
    await this.pool.query(
      `INSERT INTO sessions (id, harness, harness_version, model, tier, workspace, owns_workspace, state, config, acp_session_id, error, created_at, updated_at, owner_node)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [s.id, s.harness, s.harnessVersion, s.model, s.tier, s.workspace, s.ownsWorkspace, s.state, JSON.stringify(s.settings), s.acpSessionId, s.error, s.createdAt, s.updatedAt, this.nodeId],
    );
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = await this.pool.query("SELECT * FROM sessions WHERE id = $1", [id]);
    return r.rows[0] ? toSession(r.rows[0]) : undefined;
  }

  async listSessions(q: SessionListQuery = {}): Promise<SessionRecord[]> {
    const r = await this.pool.query(
      `SELECT * FROM sessions
        WHERE ($2::text IS NULL OR (created_at, id) < ($2::text, $3::text))
          AND ($4::text[] IS NULL OR state = ANY($4::text[]))
        ORDER BY created_at DESC, id DESC LIMIT $1`,
      [q.limit ?? 100, q.before?.createdAt ?? null, q.before?.id ?? null, q.states ?? null],
    );
    return r.rows.map(toSession);
  }

  async purgeSessions(q: PurgeQuery): Promise<SessionRecord[]> {
    // One statement: the sessions (their turns cascade) and their events go together; SKIP
    // LOCKED lets nodes sweeping at once each take different sessions.
    const r = await this.pool.query(
      `WITH gone AS (
         DELETE FROM sessions WHERE id IN (
           SELECT id FROM sessions
            WHERE state = ANY($1::text[]) AND updated_at < $2 AND NOT (id = ANY($4::text[])) AND ($5::text[] IS NULL OR id = ANY($5::text[]))
            ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING *
       ), events_gone AS (
         DELETE FROM events WHERE session_id IN (SELECT id FROM gone)
       )
       SELECT * FROM gone`,
      [q.states, q.updatedBefore, q.limit, q.keep ?? [], q.ids ?? null],
    );
    return r.rows.map(toSession);
  }

  async sessionsInStates(states: readonly SessionState[]): Promise<SessionRecord[]> {
    const r = await this.pool.query("SELECT * FROM sessions WHERE state = ANY($1::text[])", [states]);
    return r.rows.map(toSession);
  }

  async setSessionState(id: string, state: SessionState, error: string | null = null): Promise<void> {
    await this.pool.query("UPDATE sessions SET state = $1, error = $2, updated_at = $3 WHERE id = $4", [state, error, new Date().toISOString(), id]);
  }

  async setAcpSessionId(id: string, acpSessionId: string): Promise<void> {
    await this.pool.query("UPDATE sessions SET acp_session_id = $1, updated_at = $2 WHERE id = $3", [acpSessionId, new Date().toISOString(), id]);
  }

  async sessionCountsByState(): Promise<Record<string, number>> {
    const r = await this.pool.query<{ state: string; n: string }>("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state");
    return Object.fromEntries(r.rows.map((x) => [x.state, Number(x.n)]));
  }

  // --- turns -------------------------------------------------------------------

  async insertTurn(t: NewTurn): Promise<{ turn: TurnRecord; created: boolean }> {
    return this.tx(async (c) => {
      // The session's row is the lock that numbers its turns one at a time.
      await c.query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", [t.sessionId]);
      if (t.idempotencyKey) {
        const existing = await c.query("SELECT * FROM turns WHERE session_id = $1 AND idempotency_key = $2", [t.sessionId, t.idempotencyKey]);
        if (existing.rows[0]) return { turn: toTurn(existing.rows[0]), created: false };
      }
      const r = await c.query(
        `INSERT INTO turns (id, session_id, idx, state, prompt, idempotency_key, created_at)
         VALUES ($1, $2, (SELECT COALESCE(MAX(idx), -1) + 1 FROM turns WHERE session_id = $2), $3, $4, $5, $6) RETURNING *`,
        [t.id, t.sessionId, t.state, JSON.stringify(t.prompt), t.idempotencyKey, t.createdAt],
      );
      return { turn: toTurn(r.rows[0]), created: true };
    });
  }

  async getTurn(id: string): Promise<TurnRecord | undefined> {
    const r = await this.pool.query("SELECT * FROM turns WHERE id = $1", [id]);
    return r.rows[0] ? toTurn(r.rows[0]) : undefined;
  }

  async listTurns(sessionId: string): Promise<TurnRecord[]> {
    return (await this.pool.query("SELECT * FROM turns WHERE session_id = $1 ORDER BY idx", [sessionId])).rows.map(toTurn);
  }

  async turnsInStates(sessionId: string, states: readonly TurnState[]): Promise<TurnRecord[]> {
    return (await this.pool.query("SELECT * FROM turns WHERE session_id = $1 AND state = ANY($2::text[]) ORDER BY idx", [sessionId, states])).rows.map(toTurn);
  }

  async startTurn(id: string): Promise<void> {
    await this.pool.query("UPDATE turns SET state = 'running', started_at = $1 WHERE id = $2", [new Date().toISOString(), id]);
  }

  async endTurn(id: string, state: TurnState, stopReason: string | null): Promise<void> {
    await this.pool.query("UPDATE turns SET state = $1, stop_reason = $2, ended_at = $3 WHERE id = $4", [state, stopReason, new Date().toISOString(), id]);
  }

  // --- sandboxes -----------------------------------------------------------------

  async insertSandbox(s: SandboxRecord): Promise<void> {
    await this.pool.query("INSERT INTO sandboxes (id, session_id, driver, pid, ref, started_at, node) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
      s.id,
      s.sessionId,
      s.driver,
      s.pid,
      s.ref,
      s.startedAt,
      this.nodeId,
    ]);
  }

  async assignSandbox(id: string, sessionId: string): Promise<void> {
    await this.pool.query("UPDATE sandboxes SET session_id = $1 WHERE id = $2", [sessionId, id]);
  }

  async deleteSandbox(id: string): Promise<void> {
    await this.pool.query("DELETE FROM sandboxes WHERE id = $1", [id]);
  }

  async listSandboxes(): Promise<SandboxRecord[]> {
    const r = await this.pool.query("SELECT id, session_id, driver, pid, ref, started_at FROM sandboxes WHERE node = $1", [this.nodeId]);
    return r.rows.map((x) => camelCase(x) as unknown as SandboxRecord);
  }

  // --- cluster: leases, owners, commands ---------------------------------------------

  async joinCluster(leaseMs: number, version: string, homeMark?: string): Promise<void> {
    // A lease that still holds is another berth's, unless it is this host's previous run (restarted
    // before its lease ran out, after a crash): that one's process is gone.
    const held = await this.pool.query<{ host: string; pid: number | null }>("SELECT host, pid FROM nodes WHERE id = $1 AND expires_at >= now()", [this.nodeId]);
    const prev = held.rows[0];
    if (prev && !(prev.host === hostname() && prev.pid !== null && prev.pid !== process.pid && !processAlive(prev.pid)))
      throw new Error(`node id ${this.nodeId} is in use by a running berth (${prev.host || "a host"}, pid ${prev.pid}; its lease has not expired); give each node its own --node-id`);
    this.joined = { version, homeMark: homeMark ?? null };
    await this.upsertLease(leaseMs, true);
  }

  async renewLease(leaseMs: number): Promise<boolean> {
    const r = await this.pool.query(
      "UPDATE nodes SET heartbeat_at = now(), expires_at = now() + $2 * interval '1 millisecond' WHERE id = $1 AND expires_at >= now() RETURNING id",
      [this.nodeId, leaseMs],
    );
    if (r.rowCount) return true;
    // Expired (or its row deleted by an operator): rejoin as it joined (the caller fences what it ran meanwhile).
    await this.upsertLease(leaseMs, false);
    return false;
  }

  /** This node's row as it joined: a fresh lease, its version, host, pid and home mark (`started`: a new run, not a rejoin). */
  private async upsertLease(leaseMs: number, started: boolean): Promise<void> {
    await this.pool.query(
      `INSERT INTO nodes (id, started_at, heartbeat_at, expires_at, version, host, pid, home_mark)
       VALUES ($1, now(), now(), now() + $2 * interval '1 millisecond', $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET started_at = CASE WHEN $7 THEN now() ELSE nodes.started_at END, heartbeat_at = now(), expires_at = EXCLUDED.expires_at,
         version = EXCLUDED.version, host = EXCLUDED.host, pid = EXCLUDED.pid, home_mark = EXCLUDED.home_mark`,
      [this.nodeId, leaseMs, this.joined.version, hostname(), process.pid, this.joined.homeMark, started],
    );
  }

  async leaveCluster(): Promise<void> {
    await this.pool.query("UPDATE nodes SET expires_at = now() - interval '1 millisecond' WHERE id = $1", [this.nodeId]);
  }

  async nodes(): Promise<NodeLease[]> {
    const r = await this.pool.query<{ id: string; started_at: Date; heartbeat_at: Date; expires_at: Date; alive: boolean; version: string; pid: number | null; home_mark: string | null }>(
      "SELECT *, expires_at >= now() AS alive FROM nodes ORDER BY id",
    );
    return r.rows.map((x) => ({
      id: x.id,
      startedAt: x.started_at.toISOString(),
      heartbeatAt: x.heartbeat_at.toISOString(),
      expiresAt: x.expires_at.toISOString(),
      alive: x.alive,
      version: x.version,
      pid: x.pid,
      homeMark: x.home_mark,
    }));
  }

  async adoptOrphans(states: readonly SessionState[]): Promise<SessionRecord[]> {
    // One node adopts at a time (a transaction-scoped advisory lock): its UPDATE then sees every
    // earlier adoption as committed, so each orphan goes to one node. (Row locks alone are not
    // enough: the planner turns the liveness test into an anti-join, and PostgreSQL's re-check
    // of a row updated meanwhile reuses the other side of a join as first read.)
    return this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [ADOPTION_LOCK]);
      const r = await c.query(
        `UPDATE sessions SET owner_node = $1
          WHERE state = ANY($2::text[]) AND owner_node IS DISTINCT FROM $1
            AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = sessions.owner_node AND n.expires_at >= now())
         RETURNING *`,
        [this.nodeId, states],
      );
      return r.rows.map(toSession);
    });
  }

  async claimSession(id: string, states: readonly SessionState[]): Promise<boolean> {
    const r = await this.pool.query("UPDATE sessions SET owner_node = $1 WHERE id = $2 AND state = ANY($3::text[]) RETURNING id", [this.nodeId, id, states]);
    return (r.rowCount ?? 0) > 0;
  }

  async ownersOf(ids: readonly string[]): Promise<Map<string, { node: string; alive: boolean }>> {
    const r = await this.pool.query<{ id: string; node: string; alive: boolean | null }>(
      "SELECT s.id, s.owner_node AS node, n.expires_at >= now() AS alive FROM sessions s LEFT JOIN nodes n ON n.id = s.owner_node WHERE s.id = ANY($1::text[]) AND s.owner_node IS NOT NULL",
      [ids],
    );
    return new Map(r.rows.map((row) => [row.id, { node: row.node, alive: row.alive === true }]));
  }

  async ownedSessions(states: readonly SessionState[]): Promise<SessionRecord[]> {
    const r = await this.pool.query("SELECT * FROM sessions WHERE owner_node = $1 AND state = ANY($2::text[])", [this.nodeId, states]);
    return r.rows.map(toSession);
  }

  async sendCommand(node: string, sessionId: string, kind: string, args: string): Promise<string> {
    // One statement: the row and the owner's wake-up notice commit together.
    const r = await this.pool.query<{ id: string }>(
      `WITH c AS (INSERT INTO commands (node, session_id, kind, args) VALUES ($1, $2, $3, $4) RETURNING id)
       SELECT c.id, pg_notify($5, $1) FROM c`,
      [node, sessionId, kind, args, COMMANDS_CHANNEL],
    );
    return String(r.rows[0]!.id);
  }

  async takeCommands(): Promise<ClusterCommand[]> {
    const r = await this.pool.query<{ id: string; session_id: string; kind: string; args: string }>(
      `UPDATE commands SET taken_at = now() WHERE id IN (
         SELECT id FROM commands WHERE node = $1 AND taken_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED)
       RETURNING id, session_id, kind, args`,
      [this.nodeId],
    );
    return r.rows.map((x) => ({ id: String(x.id), sessionId: x.session_id, kind: x.kind, args: x.args })).sort((a, b) => Number(a.id) - Number(b.id));
  }

  async finishCommand(id: string, result: string): Promise<void> {
    await this.pool.query("WITH c AS (UPDATE commands SET done_at = now(), result = $2 WHERE id = $1 RETURNING id) SELECT pg_notify($3, $1::text) FROM c", [id, result, RESULTS_CHANNEL]);
  }

  /** Finished commands older than ten minutes go (a caller waits seconds for its answer, not minutes). */
  async pruneCommands(): Promise<void> {
    await this.pool.query("DELETE FROM commands WHERE done_at < now() - interval '10 minutes'");
  }

  async commandResult(id: string): Promise<string | undefined> {
    const r = await this.pool.query<{ result: string | null }>("SELECT result FROM commands WHERE id = $1", [id]);
    return r.rows[0]?.result ?? undefined;
  }

  /** Sessions by owner node and state (for `berth db status`). */
  async ownership(): Promise<{ node: string | null; state: string; n: number }[]> {
    const r = await this.pool.query<{ node: string | null; state: string; n: string }>("SELECT owner_node AS node, state, COUNT(*) AS n FROM sessions GROUP BY 1, 2 ORDER BY 1, 2");
    return r.rows.map((x) => ({ node: x.node, state: x.state, n: Number(x.n) }));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
