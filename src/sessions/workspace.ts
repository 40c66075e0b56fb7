import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { isAbsolute, normalize, sep } from "node:path";
import { modeAllows, unreachableAncestor } from "../sandboxes/agent-owner.js";
import { BerthError, badRequest } from "../util/errors.js";

/**
 * Which directories a caller may hand to an agent as its workspace. A workspace is bound
 * read-write into a sandbox that runs untrusted code as uid 1000, so it is an admin-only
 * choice, like a Kubernetes hostPath: the operator names roots (BERTH_WORKSPACE_ROOTS),
 * and a caller may only name a directory strictly inside one of them.
 */
export interface WorkspacePolicy {
  /** Canonical (realpath) roots; a workspace must lie strictly inside one. */
  roots: string[];
  /** Canonical directories accepted as they are (`berth run --workspace`: the operator named it). */
  exact: string[];
  /** Canonical paths no workspace may be inside of, nor an ancestor of (berth's home, the harness cache). */
  berthPaths: string[];
}

/** Never a workspace, nor anything under them. */
const SYSTEM_TREES = [
  "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys", "/run",
  "/root", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/run", "/var/lock", "/var/backups",
  "/var/db", "/var/opt", "/snap", "/lost+found", "/nix", "/efi",
];
/** Never a workspace themselves (they hold other users' trees), though a directory under them may be. */
const SHARED_PARENTS = ["/", "/home", "/var", "/tmp", "/var/tmp", "/opt", "/srv", "/mnt", "/media", "/usr/local"];

/** Linux PATH_MAX: a longer name cannot be opened anyway. */
const MAX_PATH = 4096;

export const WORKSPACE_ROOTS_ENV = "BERTH_WORKSPACE_ROOTS";

/** A workspace root or operator-named workspace that cannot be used (the server does not start). */
export class WorkspaceConfigError extends Error {}

/** True when `p` is `base` or lies under it (both canonical). */
export function within(p: string, base: string): boolean {
  return p === base || p.startsWith(base === "/" ? "/" : base + sep);
}

/** Why a canonical path may never be a workspace or a root, whatever the roots; undefined if it may. */
export function alwaysRefused(p: string, berthPaths: string[]): string | undefined {
  if (SHARED_PARENTS.includes(p)) return `${p} is a shared system directory`;
  const sys = SYSTEM_TREES.find((t) => within(p, t));
  if (sys) return `${p} is a system directory (under ${sys})`;
  for (const b of berthPaths) {
    if (within(p, b)) return `${p} is inside berth's own state (${b})`;
    if (within(b, p)) return `${p} contains berth's own state (${b})`;
  }
  return undefined;
}

/** The canonical form of a path, or undefined when it does not exist. */
function canonical(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** The form of the name the checks can read: a string, no NUL, bounded, absolute. */
function lexical(path: unknown, what: string): string {
  if (typeof path !== "string" || path.length === 0) throw new Error(`${what} must be an absolute path`);
  if (path.includes("\0")) throw new Error(`${what} contains a NUL byte`);
  if (path.length > MAX_PATH) throw new Error(`${what} is longer than ${MAX_PATH} characters`);
  if (!isAbsolute(path)) throw new Error(`${what} must be an absolute path: ${path}`);
  return path;
}

/**
 * The operator's roots, validated: absolute existing directories, canonical, not `/` or a
 * system directory, not holding berth's own state. Throws one line naming the bad root.
 */
export function workspacePolicy(opts: { roots: string[]; exact?: string[]; home: string; harnessCache: string }): WorkspacePolicy {
  const berthPaths = [opts.home, opts.harnessCache].map((p) => canonical(p) ?? normalize(p));
  const check = (raw: string, what: string): string => {
    let p: string | undefined;
    try {
      p = canonical(lexical(raw, what));
    } catch (e) {
      throw new WorkspaceConfigError((e as Error).message);
    }
    if (!p || !statSync(p).isDirectory()) throw new WorkspaceConfigError(`${what} ${raw} is not an existing directory`);
    const why = alwaysRefused(p, berthPaths);
    if (why) throw new WorkspaceConfigError(`${what} ${raw} cannot be used: ${why}`);
    return p;
  };
  return {
    roots: opts.roots.map((r) => check(r, `${WORKSPACE_ROOTS_ENV} entry`)),
    exact: (opts.exact ?? []).map((r) => check(r, "workspace")),
    berthPaths,
  };
}

const notAllowed = (msg: string) => badRequest("workspace_not_allowed", msg);

/**
 * The canonical directory a caller-named workspace resolves to, if the policy allows it:
 * strictly inside a root (or exactly an operator-named one), never a system directory or
 * berth's own state. Symlinks, `..`, `//` and trailing slashes are resolved first, so only
 * where the path really leads counts.
 */
export function resolveWorkspace(path: unknown, policy: WorkspacePolicy): string {
  let name: string;
  try {
    name = lexical(path, "workspace");
  } catch (e) {
    throw badRequest("invalid_workspace", (e as Error).message);
  }
  if (policy.roots.length === 0 && policy.exact.length === 0)
    throw notAllowed(`this server accepts no caller-named workspace; omit workspace for a fresh one, or have the operator set ${WORKSPACE_ROOTS_ENV}`);
  const inRoot = (p: string) => policy.roots.some((r) => p !== r && within(p, r)) || policy.exact.includes(p);
  const real = canonical(name);
  if (real === undefined) {
    // Whether a path outside the roots exists is none of the caller's business.
    if (!inRoot(normalize(name).replace(/(.)\/+$/, "$1"))) throw notAllowed(outside(name));
    throw badRequest("invalid_workspace", `workspace is not an existing directory: ${name}`);
  }
  const why = alwaysRefused(real, policy.berthPaths);
  if (why) throw notAllowed(`workspace ${name} cannot be used: ${why}`);
  if (policy.roots.includes(real)) throw notAllowed(`workspace ${name} is a workspace root itself; name a directory inside it`);
  if (!inRoot(real)) throw notAllowed(outside(name) + (real !== name ? ` (it resolves to ${real})` : ""));
  if (!statSync(real).isDirectory()) throw badRequest("invalid_workspace", `workspace is not a directory: ${name}`);
  return real;
}

function outside(name: string): string {
  return `workspace ${name} is not inside a directory the operator allows (${WORKSPACE_ROOTS_ENV})`;
}

/**
 * Refuses a workspace the agent cannot write (berth never chowns what it did not
 * create): as root, the agent is `agent` uid/gid and must also reach it; otherwise it
 * runs as berth's own user.
 */
export function assertAgentWritable(dir: string, agent: { uid: number; gid: number } | undefined): void {
  const fix = agent
    ? `have the operator run: chown ${agent.uid}:${agent.gid} ${dir} (or chmod it so uid ${agent.uid} can write)`
    : `make it writable by berth's user`;
  if (!agent) {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
      return;
    } catch {
      throw new BerthError(400, "workspace_not_writable", `workspace ${dir} is not writable by the agent; ${fix}`);
    }
  }
  if (!modeAllows(statSync(dir), agent.uid, agent.gid, 3))
    throw new BerthError(400, "workspace_not_writable", `workspace ${dir} is not writable by the agent (uid ${agent.uid}); ${fix}`);
  const blocked = unreachableAncestor(dir, agent.uid, agent.gid);
  if (blocked)
    throw new BerthError(400, "workspace_not_writable", `workspace ${dir} is not reachable by the agent (uid ${agent.uid}): ${blocked} is not searchable; have the operator chmod o+x ${blocked}, or use a workspace elsewhere`);
}
