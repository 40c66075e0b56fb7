import { badRequest } from "../util/errors.js";

/**
 * A client's resume point in a session's events (Last-Event-ID, or ?after= for clients that
 * cannot set headers): digits only, a safe integer. Number() alone took "1e308", "0x10" and
 * 2^53+1, which then failed the response schema as a 500.
 */
export function eventCursor(header: string | string[] | undefined, query: string | undefined): number {
  const h = Array.isArray(header) ? header[0] : header;
  if (h !== undefined && h !== "") return seq(h, "the Last-Event-ID header");
  if (query !== undefined) return seq(query, "?after=");
  return 0;
}

function seq(raw: string, what: string): number {
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(n))
    throw badRequest("invalid_last_event_id", `${what} must be an event sequence number (digits, at most ${Number.MAX_SAFE_INTEGER}); send the last id you received, or 0`);
  return n;
}
