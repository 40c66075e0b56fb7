import { rmSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { Logger } from "pino";
import type { EventLog } from "../events/log.js";
import type { SessionState } from "../events/types.js";
import type { SessionStore } from "./store.js";
import type { SessionRecord } from "./types.js";

// Retention (BERTH_RETENTION_DAYS): sessions that ended, failed or were interrupted longer ago
// than the retention are deleted, rows and files, so a long-running server's database and
// disk stop growing with its history. Ending a session already removes its home and the
// workspace berth made for it; what retention adds is the record and log, the turn
// snapshots, and the files of failed and interrupted sessions (kept until then for resume).

/** Not live anywhere: nothing runs for these, and an interrupted one is only resumable. */
export const RETAINED_STATES: readonly SessionState[] = ["ended", "failed", "interrupted"];

const BATCH = 100;

export interface RetentionDeps {
  store: SessionStore;
  events: EventLog;
  home: string;
  retentionMs: number;
  /** Sessions live on this node, never purged (one being resumed is live before its state says so). */
  live: () => Iterable<string>;
  logger: Logger;
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
      const gone = await this.d.store.purgeSessions({ states: RETAINED_STATES, updatedBefore, limit: BATCH, keep: [...this.d.live()] });
      for (const s of gone) {
        removeSessionFiles(this.d.home, s, this.d.logger);
        await this.d.events.forget(s.id);
      }
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

/** A deleted session's home and snapshots, and its workspace only if berth made it (under BERTH_HOME/workspaces). */
export function removeSessionFiles(home: string, s: SessionRecord, logger: Logger): void {
  // Paths are built from the id only when it is one berth makes: a row is data, not a path.
  if (!/^[a-z]+_[0-9a-z]+$/.test(s.id)) return void logger.warn({ sessionId: s.id }, "not a session id; its files, if any, are left");
  rmSync(join(home, "sessions", s.id), { recursive: true, force: true });
  rmSync(join(home, "snapshots", `${s.id}.git`), { recursive: true, force: true });
  const workspaces = resolve(home, "workspaces") + sep;
  if (s.ownsWorkspace && resolve(s.workspace).startsWith(workspaces)) rmSync(resolve(s.workspace), { recursive: true, force: true });
}
