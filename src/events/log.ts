import type { EventStore, StoredEvent } from "./store.js";
import type { Redactor } from "../secrets/redact.js";
import type { NewEvent } from "./types.js";

/** One event ready to send: the stored record plus its serialized form (built once, sent to every subscriber). */
export interface WireEvent extends StoredEvent {
  json: string;
}

/** Receives events in order, in batches (one per commit). */
export type Listener = (evs: WireEvent[]) => void;

/** Events read from the store per query (replay and catch-up). */
const PAGE = 5000;

/** A subscriber: what it has been given (`cursor`) and what it knows is committed (`target`). */
interface Subscription {
  listener: Listener;
  onError: (e: Error) => void;
  cursor: number;
  target: number;
  /** Reading from the store: batches that arrive meanwhile only raise the target. */
  reading: boolean;
  /** Until the first read comes back short: the replay of what was stored before it subscribed. */
  replaying: boolean;
  closed: boolean;
}

/** Appends waiting for the session's last stored seq (the first append of a session this process did not create). */
interface Opening {
  waiting: { ts: string; ev: NewEvent; dataJson: string }[];
  done: Promise<void>;
}

export interface EventLogOptions {
  /** When the queued events are committed; benchmarks compare schedules. */
  schedule?: (flush: () => void) => void;
  /** Told when a commit fails (the batch is retried, then dropped). */
  onCommitError?: (e: Error, attempt: number, dropped: boolean) => void;
}

/**
 * The append-only, per-session event log with live fan-out.
 *
 * Group commit: append() redacts, numbers and queues the event; the queue is committed in
 * one transaction once the event loop has handled the I/O at hand (setImmediate), and only
 * then handed to subscribers. So nothing is ever sent that is not committed, and a burst
 * costs one commit instead of one per event. (A microtask was too soon: the ACP SDK delivers
 * each update from a harness's stdout in its own task, so every update became its own
 * transaction, ~45 µs each; bench/ingest.ts.) One commit is in flight at a time; what is
 * appended meanwhile is the next batch.
 *
 * Exactly once: each subscriber has a cursor (the last seq it was given) and gets only the
 * events right after it. A batch that does not follow its cursor (it subscribed mid-commit,
 * or another node wrote the events) is read from the store instead, which holds every
 * committed event in order. On a shared database, other nodes' commits arrive through
 * `EventStore.watchCommits` as (session, last seq) and are read from the store the same way.
 */
export class EventLog {
  private seqs = new Map<string, number>();
  private opening = new Map<string, Opening>();
  private subs = new Map<string, Set<Subscription>>();
  private pulling = new Set<string>();
  private pullAgain = new Set<string>();
  private pending: WireEvent[] = [];
  private scheduled = false;
  private inFlight: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly schedule: (flush: () => void) => void;

  constructor(
    private store: EventStore,
    private redactor: Redactor,
    private options: EventLogOptions = {},
  ) {
    this.schedule = options.schedule ?? setImmediate;
  }

  /** Follows other processes' commits (a shared database); a no-op on an embedded store. */
  async watch(): Promise<void> {
    await this.store.watchCommits?.((sessionId, lastSeq) => this.committedElsewhere(sessionId, lastSeq));
  }

  /** A session this process just created: its events number from 1 without asking the store. */
  begin(sessionId: string): void {
    if (!this.seqs.has(sessionId) && !this.opening.has(sessionId)) this.seqs.set(sessionId, 0);
  }

  append(sessionId: string, ev: NewEvent): void {
    // Redacted now: a secret forgotten later (a session's end) is still scrubbed from what it said before.
    const dataJson = this.redactor.redact(JSON.stringify(ev.data ?? {}));
    const ts = isoNow();
    // After close() the store is gone: what a late teardown reports cannot be kept.
    if (this.closed) return;
    const seq = this.seqs.get(sessionId);
    if (seq !== undefined) {
      this.seqs.set(sessionId, seq + 1);
      this.queue(toWire({ seq: seq + 1, ts, sessionId, turnId: ev.turnId, type: ev.type, dataJson }));
      return;
    }
    let opening = this.opening.get(sessionId);
    if (!opening) {
      const waiting: Opening["waiting"] = [];
      const done = this.store.maxSeq(sessionId).then(
        (last) => {
          this.opening.delete(sessionId);
          let n = last;
          for (const w of waiting) this.queue(toWire({ seq: ++n, ts: w.ts, sessionId, turnId: w.ev.turnId, type: w.ev.type, dataJson: w.dataJson }));
          this.seqs.set(sessionId, n);
        },
        (e: Error) => {
          this.opening.delete(sessionId);
          this.options.onCommitError?.(e, 0, true);
        },
      );
      this.opening.set(sessionId, (opening = { waiting, done }));
    }
    opening.waiting.push({ ts, ev, dataJson });
  }

  private queue(wire: WireEvent): void {
    if (this.closed) return;
    this.pending.push(wire);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => void this.flush());
    }
  }

  /** Commits what is queued and stops committing: call it before the store closes. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const set of this.subs.values()) for (const s of set) s.closed = true;
    this.subs.clear();
  }

  /** Commits queued events, then delivers them; resolves when everything appended so far is committed. */
  async flush(): Promise<void> {
    this.scheduled = false;
    // Appends still waiting for their session's number are part of "so far".
    if (this.opening.size) await Promise.all([...this.opening.values()].map((o) => o.done));
    if (this.pending.length === 0) return this.inFlight;
    const batch = this.pending;
    this.pending = [];
    this.inFlight = this.inFlight.then(() => this.commit(batch));
    return this.inFlight;
  }

  private async commit(batch: WireEvent[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.insertEvents(batch);
        break;
      } catch (e) {
        // A database that is briefly away (a failover, a restart) gets ten seconds; a batch it
        // refuses (a constraint) is not retried. Nothing uncommitted is ever delivered.
        const dropped = attempt >= 20 || isConstraintError(e);
        this.options.onCommitError?.(e as Error, attempt, dropped);
        if (dropped) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const bySession = new Map<string, WireEvent[]>();
    for (const ev of batch) {
      let list = bySession.get(ev.sessionId);
      if (!list) bySession.set(ev.sessionId, (list = []));
      list.push(ev);
    }
    for (const [sid, evs] of bySession) {
      const set = this.subs.get(sid);
      if (set) for (const s of set) this.offer(sid, s, evs);
    }
  }

  /** Committed events of a session: given at once when they follow the cursor, else read from the store. */
  private offer(sessionId: string, s: Subscription, evs: WireEvent[]): void {
    const last = evs[evs.length - 1]!.seq;
    if (s.closed || last <= s.cursor) return;
    if (!s.reading && evs[0]!.seq === s.cursor + 1) {
      s.cursor = last;
      s.target = Math.max(s.target, last);
      this.give(s, evs);
      return;
    }
    s.target = Math.max(s.target, last);
    void this.catchUp(sessionId, s);
  }

  /** Notices may have been missed (the shared database's connection came back): every subscribed session is checked against the store. */
  async resync(): Promise<void> {
    for (const sessionId of [...this.subs.keys()]) {
      const last = await this.store.maxSeq(sessionId).catch(() => 0);
      this.committedElsewhere(sessionId, last);
    }
  }

  /** A listener that throws loses its subscription, not the log's commits. */
  private give(s: Subscription, evs: WireEvent[]): void {
    try {
      s.listener(evs);
    } catch (e) {
      s.closed = true;
      s.onError(e as Error);
    }
  }

  /** Another node committed a session's events up to `lastSeq`. */
  private committedElsewhere(sessionId: string, lastSeq: number): void {
    const set = this.subs.get(sessionId);
    if (!set) return;
    let behind = false;
    for (const s of set) {
      if (s.closed || lastSeq <= s.cursor) continue;
      s.target = Math.max(s.target, lastSeq);
      behind = true;
    }
    if (behind) void this.pull(sessionId);
  }

  /**
   * Reads another node's commits once for every subscriber of the session that follows live:
   * they share each page (and so its SSE frame), instead of one query per subscriber.
   */
  private async pull(sessionId: string): Promise<void> {
    if (this.pulling.has(sessionId)) return void this.pullAgain.add(sessionId);
    this.pulling.add(sessionId);
    let behind: Subscription[] = [];
    try {
      do {
        this.pullAgain.delete(sessionId);
        for (;;) {
          behind = [...(this.subs.get(sessionId) ?? [])].filter((s) => !s.closed && !s.reading && s.cursor < s.target);
          if (behind.length === 0) break;
          const page = (await this.store.eventsAfter(sessionId, Math.min(...behind.map((s) => s.cursor)), PAGE)).map(toWire);
          if (page.length === 0) break; // not visible yet: the next notice brings it
          for (const s of behind) {
            if (s.closed || s.reading) continue;
            const i = page.findIndex((e) => e.seq > s.cursor);
            if (i < 0) continue;
            if (page[i]!.seq !== s.cursor + 1) {
              void this.catchUp(sessionId, s);
              continue;
            }
            const part = i === 0 ? page : page.slice(i);
            s.cursor = part[part.length - 1]!.seq;
            s.target = Math.max(s.target, s.cursor);
            this.give(s, part);
          }
        }
      } while (this.pullAgain.has(sessionId));
    } catch (e) {
      for (const s of behind) {
        s.closed = true;
        s.onError(e as Error);
      }
    } finally {
      this.pulling.delete(sessionId);
    }
  }

  /** Reads a subscriber up to its target (and, while replaying, to the end of what is stored). One read at a time. */
  private async catchUp(sessionId: string, s: Subscription): Promise<void> {
    if (s.reading) return;
    s.reading = true;
    try {
      while (!s.closed && (s.replaying || s.cursor < s.target)) {
        const page = await this.store.eventsAfter(sessionId, s.cursor, PAGE);
        if (s.closed) break;
        if (page.length) {
          s.cursor = page[page.length - 1]!.seq;
          s.target = Math.max(s.target, s.cursor);
          this.give(s, page.map(toWire));
        }
        if (page.length < PAGE) {
          s.replaying = false;
          // Short of the target with nothing more stored: the target's events are not visible yet (they come with the next commit notice).
          if (page.length === 0) break;
        }
      }
    } catch (e) {
      s.closed = true;
      s.onError(e as Error);
    } finally {
      s.reading = false;
    }
  }

  /** Events with seq > after (a page), as wire events. */
  async read(sessionId: string, after: number, limit = 1000): Promise<WireEvent[]> {
    await this.flush();
    return (await this.store.eventsAfter(sessionId, after, limit)).map(toWire);
  }

  /** The last number this log gave a session's events, if it numbers them (the session is live here); else undefined. */
  numbered(sessionId: string): number | undefined {
    return this.seqs.get(sessionId);
  }

  async lastSeq(sessionId: string): Promise<number> {
    await this.opening.get(sessionId)?.done;
    return this.seqs.get(sessionId) ?? this.store.maxSeq(sessionId);
  }

  /**
   * Replays events after `after`, then delivers live ones, with no gap and no duplicate (see
   * the class comment). `onError` is told when the store cannot be read; the subscription has
   * ended then, and the subscriber resumes from its last seq.
   */
  subscribe(sessionId: string, after: number, listener: Listener, onError: (e: Error) => void = () => {}): () => void {
    const s: Subscription = { listener, onError, cursor: after, target: after, reading: false, replaying: true, closed: false };
    let set = this.subs.get(sessionId);
    if (!set) this.subs.set(sessionId, (set = new Set()));
    set.add(s);
    // Queued events are committed first, so the replay includes them.
    void this.flush().then(() => this.catchUp(sessionId, s));
    return () => {
      s.closed = true;
      set.delete(s);
      if (set.size === 0 && this.subs.get(sessionId) === set) this.subs.delete(sessionId);
    };
  }

  /**
   * Drops a session's cached sequence number (a session no longer live here appends rarely,
   * and another node may append to it next). Queued events are committed first, so the next
   * append numbers from the store without a gap or a repeat.
   */
  async forget(sessionId: string): Promise<void> {
    await this.flush();
    this.seqs.delete(sessionId);
  }
}

function isConstraintError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  // SQLite's SQLITE_CONSTRAINT_*; PostgreSQL's class 23 (integrity constraint violation).
  return typeof code === "string" && (code.startsWith("SQLITE_CONSTRAINT") || code.startsWith("23"));
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
