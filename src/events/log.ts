import type { EventStore, StoredEvent } from "./store.js";
import type { Redactor } from "../secrets/redact.js";
import type { NewEvent } from "./types.js";

/** One event ready to send: the stored record plus its serialized form (built once, sent to every subscriber). */
export interface WireEvent extends StoredEvent {
  json: string;
}

/** Receives events in order, in batches (one per commit). */
export type Listener = (evs: WireEvent[]) => void;

/**
 * The append-only, per-session event log with live fan-out.
 *
 * Group commit: append() redacts, numbers and queues the event; the queue is committed in
 * one SQLite transaction once the event loop has handled the I/O at hand (setImmediate),
 * and only then handed to subscribers. So nothing is ever sent that is not committed, and
 * a burst costs one commit instead of one per event. (A microtask was too soon: the ACP SDK
 * delivers each update from a harness's stdout in its own task, so every update became its
 * own transaction, ~45 µs each; bench/ingest.ts.) read() and subscribe() flush first, so
 * they never miss a queued event and a subscriber sees each event exactly once.
 */
export class EventLog {
  private seqs = new Map<string, number>();
  private listeners = new Map<string, Set<Listener>>();
  private pending: WireEvent[] = [];
  private scheduled = false;
  private closed = false;

  constructor(
    private store: EventStore,
    private redactor: Redactor,
    /** When the queued events are committed; benchmarks compare schedules. */
    private schedule: (flush: () => void) => void = setImmediate,
  ) {}

  append(sessionId: string, ev: NewEvent): WireEvent {
    const seq = (this.seqs.get(sessionId) ?? this.store.maxSeq(sessionId)) + 1;
    this.seqs.set(sessionId, seq);
    const dataJson = this.redactor.redact(JSON.stringify(ev.data ?? {}));
    const wire = toWire({ seq, ts: isoNow(), sessionId, turnId: ev.turnId, type: ev.type, dataJson });
    // After close() the store is gone: what a late teardown reports cannot be kept.
    if (this.closed) return wire;
    this.pending.push(wire);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
    return wire;
  }

  /** Commits what is queued and stops committing: call it before the store closes. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Commits queued events, then delivers them. Safe to call at any time. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.store.insertEvents(batch);
    const bySession = new Map<string, WireEvent[]>();
    for (const ev of batch) {
      let list = bySession.get(ev.sessionId);
      if (!list) bySession.set(ev.sessionId, (list = []));
      list.push(ev);
    }
    for (const [sid, evs] of bySession) {
      const ls = this.listeners.get(sid);
      if (ls) for (const l of ls) l(evs);
    }
  }

  /** Events with seq > after (a page), as wire events. */
  read(sessionId: string, after: number, limit = 1000): WireEvent[] {
    this.flush();
    return this.store.eventsAfter(sessionId, after, limit).map(toWire);
  }

  lastSeq(sessionId: string): number {
    return this.seqs.get(sessionId) ?? this.store.maxSeq(sessionId);
  }

  /**
   * Replays events after `after`, then delivers live ones, with no gap and no duplicate.
   * Replay and registration happen in one synchronous stretch, after a flush, so no
   * append can fall between them.
   */
  subscribe(sessionId: string, after: number, listener: Listener): () => void {
    this.flush();
    let cursor = after;
    for (;;) {
      const page = this.store.eventsAfter(sessionId, cursor, 5000).map(toWire);
      if (page.length) listener(page);
      if (page.length < 5000) break;
      cursor = page[page.length - 1]!.seq;
    }
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(sessionId) === set) this.listeners.delete(sessionId);
    };
  }

  /**
   * Drops a session's cached sequence number (a session no longer live appends rarely, and
   * the map would otherwise grow with every session ever run). Queued events are committed
   * first, so the next append numbers from the store without a gap or a repeat.
   */
  forget(sessionId: string): void {
    this.flush();
    this.seqs.delete(sessionId);
  }
}

// A burst of events shares a millisecond: format its timestamp once.
let lastMs = 0;
let lastIso = "";
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

function toWire(e: StoredEvent): WireEvent {
  const turn = e.turnId ? `,"turnId":${JSON.stringify(e.turnId)}` : "";
  const json = `{"seq":${e.seq},"ts":"${e.ts}","sessionId":${JSON.stringify(e.sessionId)}${turn},"type":"${e.type}","data":${e.dataJson}}`;
  return { ...e, json };
}
