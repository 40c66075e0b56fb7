import { spawn, type SpawnOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import type { SandboxProcess } from "./types.js";

// Shared by the process-based drivers (host, bwrap): spawn in a new process group,
// kill the group, and recognise our own process after a restart by its start time
// (so a recycled pid is never killed).

export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime), counted after the ")" that closes the command name.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

export function spawnTree(driver: string, argv: string[], opts: SpawnOptions): SandboxProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], ...opts, detached: true });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  // A harness that dies mid-write must not take berth down with an unhandled EPIPE.
  for (const s of [child.stdin, child.stdout, child.stderr]) s?.on("error", () => {});
  const pid = child.pid ?? -1;
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup(pid, "SIGTERM");
    const t = setTimeout(() => killGroup(pid, "SIGKILL"), 2000);
    await exited;
    clearTimeout(t);
    killGroup(pid, "SIGKILL"); // stragglers that left the leader behind
  };
  return {
    id: randomUUID(),
    driver,
    pid,
    ref: pid > 0 ? processStartTime(pid) : null,
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: child.stderr!,
    child,
    exited,
    kill,
  };
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Reaps a leftover process group if the pid still names the process we started. */
export async function reapTree(pid: number | null, ref: string | null): Promise<void> {
  if (!pid || !ref) return;
  if (processStartTime(pid) !== ref) return;
  killGroup(pid, "SIGKILL");
}
