import { randomBytes } from "node:crypto";

/** Sortable-enough, URL-safe ids with a readable prefix (ses_, turn_, perm_). */
export function newId(prefix: string): string {
  const t = Date.now().toString(36).padStart(9, "0");
  return `${prefix}_${t}${randomBytes(8).toString("hex")}`;
}

/** What newId() makes: a path may be built from such an id, never from any other string. */
export const BERTH_ID = /^[a-z]+_[0-9a-z]+$/;

/** A bearer secret: 32 random bytes, base64url. */
export function newSecret(prefix = ""): string {
  return prefix + randomBytes(32).toString("base64url");
}
