// What every container may use: memory, CPUs, tasks and ulimits, from the operator's
// settings and capped at what this host allows.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { EngineEnv } from "./engine.js";

/** The operator's container settings, as config/env.ts parses them. */
export interface OciEnv extends EngineEnv {
  BERTH_HOME?: string;
  BERTH_IMAGE?: string;
  BERTH_IMAGE_T4?: string;
  BERTH_OCI_CPUS?: number;
  BERTH_OCI_MEMORY?: number;
  BERTH_OCI_PIDS?: number;
  BERTH_OCI_NOFILE?: number;
  BERTH_OCI_NPROC?: number;
  BERTH_OCI_INIT?: boolean;
}

export interface OciLimits {
  /** Bytes of memory (swap included). */
  memory: number;
  /** CPUs, in units of 1e-9 CPU. */
  nanoCpus: number;
  pids: number;
  nofile: number;
  nproc: number;
}

/** This process's hard limit for one /proc/self/limits row, or undefined when unlimited/unknown. */
function hardLimit(row: string): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(row));
    const hard = line?.slice(row.length).trim().split(/\s+/)[1];
    return hard && /^\d+$/.test(hard) ? Number(hard) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Limits for every container: env-overridable defaults, and rlimits no higher than this
 * host allows. Without CAP_SYS_RESOURCE the runtime cannot raise a hard limit, so nofile
 * is capped at the host's hard limit and nproc also at kernel.pid_max (Podman lowers its
 * own RLIMIT_NPROC to pid_max, and the runtime inherits that).
 */
export function defaultLimits(env: OciEnv = {}): OciLimits {
  let pidMax: number | undefined;
  try {
    pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim()) || undefined;
  } catch {
    /* not linux */
  }
  const nofile = Math.min(hardLimit("Max open files") ?? 1_048_576, 1_048_576);
  const nproc = Math.min(hardLimit("Max processes") ?? 1_048_576, pidMax ?? 1_048_576);
  // Engines refuse more CPUs than the host has.
  const cpus = Math.min(env.BERTH_OCI_CPUS ?? 2, availableParallelism());
  return {
    memory: env.BERTH_OCI_MEMORY ?? 2 * 1024 ** 3,
    nanoCpus: Math.round(cpus * 1e9),
    pids: env.BERTH_OCI_PIDS ?? 512,
    nofile: env.BERTH_OCI_NOFILE ?? nofile,
    nproc: env.BERTH_OCI_NPROC ?? nproc,
  };
}
