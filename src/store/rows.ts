// Rows to records, shared by both stores (their columns are the same).
import type { SessionRecord, TurnRecord } from "../sessions/types.js";
import type { SessionTallies } from "../sessions/store.js";

type Row = Record<string, unknown>;

/** Column names to field names (owns_workspace → ownsWorkspace): the one place rows are mapped. */
export function camelCase(r: unknown): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r as Row)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

/** A session row: `config` is the settings' JSON; `owns_workspace` is 0/1 in SQLite, a boolean in PostgreSQL; a shared store's owner column is not part of the record. */
export function toSession(r: unknown): SessionRecord {
  const { config, ownsWorkspace, ownerNode: _owner, ...rest } = camelCase(r);
  return { ...rest, ownsWorkspace: ownsWorkspace === 1 || ownsWorkspace === true, settings: JSON.parse(config as string) } as SessionRecord;
}

export function toTurn(r: unknown): TurnRecord {
  const t = camelCase(r);
  return { ...t, prompt: JSON.parse(t.prompt as string) } as TurnRecord;
}

/** A tallies query's rows by session id (numbers may arrive as strings: PostgreSQL's bigint and numeric). */
export function tallyMap(rows: { id: string; last_seq: number | string; turns: number | string; tokens: number | string; cost: number | string; pending: number | string }[]): Map<string, SessionTallies> {
  return new Map(
    rows.map((r) => [
      r.id,
      { lastSeq: Number(r.last_seq), turns: Number(r.turns), spent: { tokens: Number(r.tokens), costUsd: Number(r.cost) }, pendingPermissions: Math.max(0, Number(r.pending)) },
    ]),
  );
}
