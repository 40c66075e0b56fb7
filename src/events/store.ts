// What the event log needs from storage (store/sqlite.ts and store/postgres.ts implement it).
import type { BerthEvent } from "./types.js";

/** An event as stored: its data is the redacted JSON text, never re-serialised. */
export interface StoredEvent extends Omit<BerthEvent, "data"> {
  dataJson: string;
}

export interface EventStore {
  /** Many events, one transaction (the event log's group commit). */
  insertEvents(events: StoredEvent[]): Promise<void>;
  /** Events with seq > after, in order. */
  eventsAfter(sessionId: string, after: number, limit: number): Promise<StoredEvent[]>;
  /** The highest seq stored for the session, 0 when none. */
  maxSeq(sessionId: string): Promise<number>;
  /**
   * Commits made by other processes on a shared database: `onCommit(sessionId, lastSeq)` after
   * each of their commits. Absent on an embedded store, where this process is the only writer.
   */
  watchCommits?(onCommit: (sessionId: string, lastSeq: number) => void): Promise<void>;
}
