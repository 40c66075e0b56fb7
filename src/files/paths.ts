import { posix } from "node:path";
import { badRequest } from "../util/errors.js";
import { PROTECTED_WORKSPACE_PATHS } from "../sandboxes/types.js";

// Paths a caller names inside a session's workspace. They are always relative to the
// workspace root and are checked lexically here; where they really lead (symlinks) is
// checked again inside the sandbox, on what was actually opened (files/scripts.ts).

const MAX_PATH = 4096;
const MAX_SEGMENT = 255;

/**
 * A caller's workspace path, normalised: "" for the root, else "a/b" with no empty, "." or
 * ".." segment. Refused: absolute paths, "..", NUL and other control characters, and
 * anything longer than Linux allows.
 */
export function workspacePath(raw: unknown, what = "path"): string {
  if (raw === undefined || raw === "" || raw === "." || raw === "/") return "";
  if (typeof raw !== "string") throw badRequest("invalid_path", `${what} must be a string`);
  if (raw.length > MAX_PATH) throw badRequest("invalid_path", `${what} is longer than ${MAX_PATH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw badRequest("invalid_path", `${what} contains a control character`);
  if (raw.startsWith("/")) throw badRequest("invalid_path", `${what} must be relative to the workspace (no leading /): ${raw}`);
  const segments = raw.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw badRequest("invalid_path", `${what} must stay inside the workspace (no ..): ${raw}`);
  if (segments.some((s) => Buffer.byteLength(s) > MAX_SEGMENT)) throw badRequest("invalid_path", `${what} has a name longer than ${MAX_SEGMENT} bytes`);
  return segments.join("/");
}

/** The protected path (git hooks and config, shell rc files) a workspace path is, or is under; undefined if none. */
export function protectedPath(rel: string, writable: readonly string[]): string | undefined {
  return PROTECTED_WORKSPACE_PATHS.find((p) => !writable.includes(p) && (rel === p || rel.startsWith(p + "/") || p.startsWith(rel + "/")));
}

/** Joins a normalised workspace path onto where the workspace is mounted in a sandbox. */
export function inside(mount: string, rel: string): string {
  return rel === "" ? mount : posix.join(mount, rel);
}
