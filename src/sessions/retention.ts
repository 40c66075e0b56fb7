import { rmSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { Logger } from "pino";
import type { EventLog } from "../events/log.js";
import { BERTH_ID } from "../util/ids.js";
import type { PurgeQuery, SessionStore } from "./store.js";
import { SETTLED_SESSION_STATES, type SessionRecord } from "./types.js";

// Retention (BERTH_RETENTION_DAYS): sessions that ended, failed or were interrupted longer ago
// than the retention are deleted, rows and files, so a long-running server's database and
// disk stop growing with its history. Ending a session already removes its home and the
// workspace berth made for it; what retention adds is the record and log, the turn
// snapshots, and the files of failed and interrupted sessions (kept until then for resume).

const BATCH = 100;

/** What deleting sessions touches: their rows, their log's numbering, their files under BERTH_HOME. */
export interface DeletionDeps {
  store: SessionStore;
  events: EventLog;
  home: string;
  logger: Logger;
}

export interface RetentionDeps extends DeletionDeps {
  retentionMs: number;
  /** Sessions live on this node, never purged (one being resumed is live before its state says so). */
  live: () => Iterable<string>;
  purged?: (n: number) => void;
  now?: () => number;
}

export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(private readonly d: RetentionDeps) {}

  /** Sweeps now, then every quarter of the retention (at least a second, at most an hour). */
  start(): void {
    const every = Math.min(3_600_000, Math.max(1_000, Math.floor(this.d.retentionMs / 4)));
    const tick = () => void this.sweep().catch((e: Error) => this.d.logger.warn({ err: e.message }, "retention sweep failed; retrying at the next one"));
    tick();
    this.timer = setInterval(tick, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** Deletes what is past retention; returns how many sessions went. One sweep at a time. */
  sweep(): Promise<number> {
    return (this.running ??= this.sweepOnce().finally(() => (this.running = undefined)));
  }

  private async sweepOnce(): Promise<number> {
    const updatedBefore = new Date((this.d.now ?? Date.now)() - this.d.retentionMs).toISOString();
    let total = 0;
    for (;;) {
      const gone = await deleteSessions(this.d, { states: SETTLED_SESSION_STATES, updatedBefore, limit: BATCH, keep: [...this.d.live()] });
      total += gone.length;
      if (gone.length < BATCH) break;
    }
    if (total) {
      this.d.purged?.(total);
      this.d.logger.info({ purged: total, updatedBefore }, "deleted sessions past retention");
    }
    return total;
  }
}

/** Deletes the sessions `q` names (store.purgeSessions), then their files and their log's numbering; returns their records. */
export async function deleteSessions(d: DeletionDeps, q: PurgeQuery): Promise<SessionRecord[]> {
  const gone = await d.store.purgeSessions(q);
  for (const s of gone) {
    removeSessionFiles(d.home, s, d.logger);
    await d.events.forget(s.id);
  }
  return gone;
}

/** A deleted session's home and snapshots, and its workspace only if berth made it (under BERTH_HOME/workspaces). */
function removeSessionFiles(home: string, s: SessionRecord, logger: Logger): void {
  // Paths are built from the id only when it is one berth makes: a row is data, not a path.
  if (!BERTH_ID.test(s.id)) return void logger.warn({ sessionId: s.id }, "not a session id; its files, if any, are left");
  rmSync(join(home, "sessions", s.id), { recursive: true, force: true });
  rmSync(join(home, "snapshots", `${s.id}.git`), { recursive: true, force: true });
  const workspaces = resolve(home, "workspaces") + sep;
  if (s.ownsWorkspace && resolve(s.workspace).startsWith(workspaces)) rmSync(resolve(s.workspace), { recursive: true, force: true });
}
