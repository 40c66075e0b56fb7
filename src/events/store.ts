// What the event log needs from storage (store/sqlite.ts implements it).
import type { BerthEvent } from "./types.js";

/** An event as stored: its data is the redacted JSON text, never re-serialised. */
export interface StoredEvent extends Omit<BerthEvent, "data"> {
  dataJson: string;
}

export interface EventStore {
  /** Many events, one transaction (the event log's group commit). */
  insertEvents(events: StoredEvent[]): void;
  /** Events with seq > after, in order. */
  eventsAfter(sessionId: string, after: number, limit: number): StoredEvent[];
  /** The highest seq stored for the session, 0 when none. */
  maxSeq(sessionId: string): number;
}
