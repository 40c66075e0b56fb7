// Which store a server uses: SQLite in BERTH_HOME (one node, the default) or PostgreSQL
// (BERTH_DATABASE_URL, several nodes). The PostgreSQL driver is loaded only when it is used.
import type { Logger } from "pino";
import type { BerthConfig } from "../config/config.js";
import type { EventStore } from "../events/store.js";
import type { SessionStore } from "../sessions/store.js";
import type { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";

export type BerthStore = SessionStore & EventStore;

/** The password of a database URL (a secret: it goes to the redactor before anything can print it). */
export function databasePassword(url: string): string | undefined {
  try {
    const p = decodeURIComponent(new URL(url).password);
    return p || undefined;
  } catch {
    return undefined;
  }
}

/** The PostgreSQL store (its driver loaded now); nothing connects until the first query. */
export async function openPostgres(url: string, nodeId: string, logger: Logger): Promise<PostgresStore> {
  const { PostgresStore } = await import("./postgres.js");
  return new PostgresStore({ url, nodeId, onListenerError: (e) => logger.warn({ err: e.message }, "database connection lost; reconnecting") });
}

/** The server's store; PostgreSQL gets its migrations first (under a lock: nodes starting together apply them once). */
export async function openStore(config: BerthConfig, logger: Logger): Promise<{ store: BerthStore; shared?: PostgresStore }> {
  const url = config.env.BERTH_DATABASE_URL;
  if (!url) return { store: new SqliteStore(config.dbPath) };
  const shared = await openPostgres(url, config.nodeId, logger);
  const applied = await shared.migrate().catch(async (e: Error) => {
    await shared.close().catch(() => {});
    throw new Error(`PostgreSQL at ${safeUrl(url)}: ${e.message}`);
  });
  if (applied.length) logger.info({ applied }, "applied database migrations");
  return { store: shared, shared };
}

/** A database URL fit to print: no password. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(an unparsable URL)";
  }
}
