import { badRequest } from "../util/errors.js";

// Where the next page of GET /v1/sessions starts: the last listed session's creation time and
// id (the list's keyset), opaque to clients (base64url of a JSON pair). What a client sends
// back is untrusted: it must decode to exactly that shape or the request is refused.

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const ID = /^[A-Za-z0-9_-]{1,100}$/;

export function sessionCursor(s: { createdAt: string; id: string }): string {
  return Buffer.from(JSON.stringify([s.createdAt, s.id])).toString("base64url");
}

export function parseSessionCursor(raw: string): { createdAt: string; id: string } {
  const bad = () => badRequest("invalid_cursor", "?before= must be a nextCursor from an earlier page of GET /v1/sessions, unchanged; omit it for the first page");
  if (!/^[A-Za-z0-9_-]{1,300}$/.test(raw)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "string" || typeof v[1] !== "string" || !ISO.test(v[0]) || !ID.test(v[1])) throw bad();
  return { createdAt: v[0], id: v[1] };
}
