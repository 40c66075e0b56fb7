import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";

export const TIERS = ["host", "process", "container", "privileged", "host-access"] as const;
export type Tier = (typeof TIERS)[number];

const ALIASES: Record<string, Tier> = { t0: "host", t1: "process", t2: "container", t3: "privileged", t4: "host-access" };

/** Accepts a tier name or its alias (t0..t4); undefined if neither. */
export function parseTier(name: string): Tier | undefined {
  const n = name.toLowerCase();
  return (TIERS as readonly string[]).includes(n) ? (n as Tier) : ALIASES[n];
}

/** Paths as the sandboxed process sees them. Harness config written on the host must use these. */
export interface SandboxLayout {
  workspace: string;
  home: string;
  /** Where the harness install tree appears (read-only). */
  harnessRoot: string;
  /** The node binary inside the sandbox. */
  node: string;
}

/**
 * How an isolated sandbox reaches the outside: only through unix sockets berth owns (the
 * model gateway, the session's egress proxy). The relay (relay.ts), run as the sandbox's
 * first process, exposes each as 127.0.0.1:<port> inside, then runs the command.
 */
export interface SandboxNet {
  forwards: { port: number; socket: string }[];
  /** Host path of the relay script (written by berth; mounted read-only). */
  relayScript: string;
}

/** Where drivers mount berth's sockets and the relay inside a sandbox. */
export const SANDBOX_RUN_DIR = "/run/berth";

export interface SandboxSpec {
  sessionId: string;
  tier: Tier;
  /** Host paths. */
  workspace: string;
  home: string;
  harnessDir: string;
  command: string[];
  env: Record<string, string>;
  /** Absent: the sandbox shares the host network (T0 only). */
  net?: SandboxNet;
  /** Workspace-relative paths mounted read-only over themselves (where they exist). */
  protect?: string[];
  /** Host files mounted read-only at absolute paths inside (e.g. a harness's managed policy). */
  files?: { path: string; hostPath: string }[];
  /**
   * A warm pool entry: its start and idle time must not slow running sessions, so a driver
   * that can gives it the lowest CPU share until `foreground()` (T1: the cgroup's weight).
   */
  background?: boolean;
}

/**
 * Files in a workspace that run code later, outside the agent's turn (git hooks, git's
 * config with its hooksPath/fsmonitor, shell start-up files): read-only in the sandbox
 * unless a session allows them.
 */
export const PROTECTED_WORKSPACE_PATHS = [
  ".git/hooks",
  ".git/config",
  ".gitmodules",
  ".bashrc",
  ".bash_profile",
  ".profile",
  ".zshrc",
  ".zprofile",
  ".envrc",
  ".vscode/tasks.json",
];

export interface SandboxProcess {
  id: string;
  driver: string;
  pid: number;
  /** Driver-specific handle for reaping after a crash (e.g. process start time, container id). */
  ref: string | null;
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ends the whole process tree; resolves when it is gone. */
  kill(): Promise<void>;
  /** A sandbox started with `background`: from now on it competes for CPU like any other (drivers that can lower a share). */
  foreground?(): void;
}

export interface SandboxDriver {
  readonly name: string;
  readonly tiers: readonly Tier[];
  /** Throws a SandboxUnavailableError naming what to install when the driver cannot run here. */
  check(): Promise<void>;
  layout(spec: Pick<SandboxSpec, "workspace" | "home" | "harnessDir">): SandboxLayout;
  start(spec: SandboxSpec): Promise<SandboxProcess>;
  /** Kills a sandbox left over by a previous berth process, if it is still there. */
  reap(pid: number | null, ref: string | null): Promise<void>;
}

export class SandboxUnavailableError extends Error {
  readonly code = "sandbox_unavailable";
}

/** uid/gid the agent runs as in every tier (Claude Code refuses bypass modes as root). */
export const AGENT_UID = 1000;
export const AGENT_GID = 1000;
