import type { FastifyReply, FastifyRequest } from "fastify";
import type { EventLog, WireEvent } from "../events/log.js";

/** Past this many unsent bytes a subscriber is too slow; it is cut off and resumes from the log. */
const MAX_BUFFERED = 8 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

// Every subscriber of a session gets the same batch array from the log: its SSE frame is
// built and encoded once, and the same bytes are written to each socket.
const frames = new WeakMap<readonly WireEvent[], Buffer>();

function frameOf(evs: readonly WireEvent[]): Buffer {
  let frame = frames.get(evs);
  if (!frame) {
    let text = "";
    for (const ev of evs) text += `id: ${ev.seq}\nevent: ${ev.type}\ndata: ${ev.json}\n\n`;
    frames.set(evs, (frame = Buffer.from(text)));
  }
  return frame;
}

/** `session.status` ended: nothing follows it (ended sessions do not resume), so the stream ends there. */
export function isTerminal(ev: WireEvent): boolean {
  return ev.type === "session.status" && (JSON.parse(ev.dataJson) as { state?: string }).state === "ended";
}

/**
 * Serves a session's events as SSE: replay from the store after `after`, then live, each
 * with `id: <seq>`, so a reconnect with Last-Event-ID continues exactly where it broke.
 * The stream closes after the session's terminal event; a reconnect to an ended session
 * with nothing left to replay gets 204 No Content (which tells EventSource to stop).
 */
export async function streamEvents(req: FastifyRequest, reply: FastifyReply, log: EventLog, sessionId: string, after: number, ended: boolean): Promise<void> {
  // An ended session's stream is its stored events up to the last one.
  const endAt = ended ? await log.lastSeq(sessionId) : Infinity;
  if (after >= endAt) {
    void reply.code(204).send();
    return;
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 1000\n\n");
  let closed = false;
  let sent = 0;
  const started = performance.now();
  // One socket write per batch, not per event.
  const send = (evs: WireEvent[]) => {
    if (closed) return;
    sent += evs.length;
    res.write(frameOf(evs));
    if (res.writableLength > MAX_BUFFERED || evs.some(isTerminal)) close();
  };
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    sub.off?.();
    res.end();
    // The stream's request line, when it ends (the reply was hijacked, so Fastify logs nothing).
    req.log.info({ method: "GET", path: `/v1/sessions/${sessionId}/events`, status: 200, ms: Math.round(performance.now() - started), sessionId, stream: true, events: sent }, "request");
  };
  // Set after the replay; close() may run during it (a slow reader), hence the holder.
  const sub: { off?: () => void } = {};
  req.raw.once("close", close);
  res.once("close", close);
  sub.off = log.subscribe(
    sessionId,
    after,
    (evs) => {
      send(evs);
      // Ended before this request: the replay up to its last event is everything (even without a terminal event in it).
      if (evs[evs.length - 1]!.seq >= endAt) close();
    },
    // The store could not be read: the stream ends, and the client resumes from its Last-Event-ID.
    (e) => {
      req.log.warn({ sessionId, err: e.message }, "event stream ended: the store could not be read");
      close();
    },
  );
  if (closed) sub.off();
}
