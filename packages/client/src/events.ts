import { createParser } from "eventsource-parser";
import { BerthError } from "./errors.js";
import type { Transport } from "./transport.js";
import type { BerthEvent, EventPage } from "./types.js";

export interface FollowOptions {
  /** Start after this sequence number (default 0: the whole log). */
  after?: number;
  signal?: AbortSignal;
  /** Wait before reconnecting after a dropped connection; doubles per failure up to 5 s (default 250 ms). */
  retryMs?: number;
  /** Give up after this many failed reconnects in a row (default 20). */
  maxRetries?: number;
  /** The stream is open (again): events flow. */
  onConnect?: () => void;
  /** The connection dropped or could not be made; the iterator retries after a backoff. */
  onDisconnect?: (cause: unknown, failures: number) => void;
}

const isEnd = (ev: BerthEvent) => ev.type === "session.status" && ev.data.state === "ended";

/**
 * A session's events, in order, each exactly once: replayed from `after`, then live. A
 * dropped connection is resumed with Last-Event-ID; should the server's stream ever skip a
 * sequence number, the missing events are read from the log (JSON pages) before going on.
 * Ends after the session's `ended` status (or the server's 204 for an ended session).
 */
export async function* followEvents(t: Transport, sessionId: string, o: FollowOptions = {}): AsyncGenerator<BerthEvent, void, undefined> {
  let last = o.after ?? 0;
  let failures = 0;
  const path = `/v1/sessions/${encodeURIComponent(sessionId)}/events`;
  for (;;) {
    if (o.signal?.aborted) return;
    let res: Response | undefined;
    try {
      res = await t.send("GET", path, { headers: { accept: "text/event-stream", "last-event-id": String(last) }, ...(o.signal ? { signal: o.signal } : {}) });
    } catch (e) {
      if ((e as BerthError).code === "aborted") return;
      await backoff(e, ++failures, o);
      continue;
    }
    if (res.status === 204) return;
    if (res.status >= 500 || res.status === 429) {
      await backoff(await BerthError.from(res), ++failures, o);
      continue;
    }
    if (!res.ok) throw await BerthError.from(res);
    if (!res.body) throw new BerthError(res.status, "http_error", "the events response has no body");
    o.onConnect?.();

    const queue: BerthEvent[] = [];
    const parser = createParser({ onEvent: (m) => queue.push(JSON.parse(m.data) as BerthEvent) });
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        while (queue.length) {
          const ev = queue.shift()!;
          if (ev.seq <= last) continue; // already seen (a replay overlapping a reconnect)
          if (ev.seq > last + 1)
            for await (const missing of readRange(t, path, last, ev.seq, o.signal)) {
              last = missing.seq;
              yield missing;
            }
          last = ev.seq;
          failures = 0;
          yield ev;
          if (isEnd(ev)) return;
        }
      }
    } catch (e) {
      if (o.signal?.aborted) return;
      await backoff(e, ++failures, o);
      continue;
    } finally {
      reader.cancel().catch(() => {});
    }
    // The server closed the stream without the session's end (a restart, a proxy's timeout): resume.
    failures = 0;
    o.onDisconnect?.(new BerthError(0, "network_error", "the server closed the event stream"), 0);
  }
}

/** Events with after < seq < before, from the log's JSON pages. */
async function* readRange(t: Transport, path: string, after: number, before: number, signal?: AbortSignal): AsyncGenerator<BerthEvent> {
  let cursor = after;
  while (cursor < before - 1) {
    const page = await t.json<EventPage>("GET", `${path}?after=${cursor}&limit=${Math.min(5000, before - 1 - cursor)}`, signal ? { signal } : {});
    if (page.events.length === 0) throw new BerthError(0, "http_error", `events ${cursor + 1}..${before - 1} are missing from the log`);
    for (const ev of page.events) if (ev.seq < before) yield ev;
    cursor = page.events[page.events.length - 1]!.seq;
  }
}

async function backoff(cause: unknown, failures: number, o: FollowOptions): Promise<void> {
  o.onDisconnect?.(cause, failures);
  if (failures > (o.maxRetries ?? 20)) {
    if (cause instanceof BerthError) throw cause;
    throw new BerthError(0, "network_error", `the event stream failed ${failures - 1} times in a row: ${(cause as Error)?.message}`, { cause });
  }
  const ms = Math.min(5000, (o.retryMs ?? 250) * 2 ** (failures - 1));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    o.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
