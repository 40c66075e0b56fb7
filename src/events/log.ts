import type { Store, StoredEvent } from "../store/sqlite.js";
import type { Redactor } from "../secrets/redact.js";
import type { NewEvent } from "./types.js";

/** One event ready to send: the stored record plus its serialized form (built once, sent to every subscriber). */
export interface WireEvent extends StoredEvent {
  json: string;
}

export type Listener = (ev: WireEvent) => void;

/**
 * The append-only, per-session event log with live fan-out. append() redacts, commits
 * to the store, and only then notifies subscribers, in the same synchronous tick, so a
 * subscriber that replays from the store and then registers (also synchronously) sees
 * every event exactly once.
 */
export class EventLog {
  private seqs = new Map<string, number>();
  private listeners = new Map<string, Set<Listener>>();

  constructor(
    private store: Store,
    private redactor: Redactor,
  ) {}

  append(sessionId: string, ev: NewEvent): WireEvent {
    const seq = (this.seqs.get(sessionId) ?? this.store.maxSeq(sessionId)) + 1;
    const ts = new Date().toISOString();
    const dataJson = this.redactor.redact(JSON.stringify(ev.data ?? {}));
    this.store.insertEvent(sessionId, seq, ts, ev.turnId, ev.type, dataJson);
    this.seqs.set(sessionId, seq);
    const wire = toWire({ seq, ts, sessionId, turnId: ev.turnId, type: ev.type, dataJson });
    const ls = this.listeners.get(sessionId);
    if (ls) for (const l of ls) l(wire);
    return wire;
  }

  /** Events with seq > after (a page), as wire events. */
  read(sessionId: string, after: number, limit = 1000): WireEvent[] {
    return this.store.eventsAfter(sessionId, after, limit).map(toWire);
  }

  lastSeq(sessionId: string): number {
    return this.seqs.get(sessionId) ?? this.store.maxSeq(sessionId);
  }

  /**
   * Replays events after `after`, then delivers live ones, with no gap and no duplicate.
   * The replay runs in pages; between pages no append can interleave because all of it
   * is synchronous.
   */
  subscribe(sessionId: string, after: number, listener: Listener): () => void {
    let cursor = after;
    for (;;) {
      const page = this.read(sessionId, cursor, 5000);
      for (const ev of page) listener(ev);
      if (page.length < 5000) break;
      cursor = page[page.length - 1]!.seq;
    }
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }

  forget(sessionId: string): void {
    this.seqs.delete(sessionId);
  }
}

function toWire(e: StoredEvent): WireEvent {
  const turn = e.turnId ? `,"turnId":${JSON.stringify(e.turnId)}` : "";
  const json = `{"seq":${e.seq},"ts":"${e.ts}","sessionId":${JSON.stringify(e.sessionId)}${turn},"type":"${e.type}","data":${e.dataJson}}`;
  return { ...e, json };
}
