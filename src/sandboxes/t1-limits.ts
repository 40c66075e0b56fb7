import { readFileSync } from "node:fs";
import type { CgroupLimits } from "./cgroups.js";

/**
 * T1 limits from the operator's BERTH_T1_* variables (parsed at start, config/env.ts),
 * checked against this host before anything is spawned: a limit prlimit cannot apply used to
 * kill the sandbox at start-up and surface as `write EPIPE`. Per-process rlimits (prlimit)
 * plus, per sandbox, a cgroup's pids/memory/CPU.
 */

/** The operator's T1 settings, as config/env.ts parses them (the composition root passes that slice). */
export interface T1Env {
  BERTH_T1_MAX_PROCS?: number;
  BERTH_T1_MAX_FILES?: number;
  BERTH_T1_MAX_FILE_BYTES?: number;
  BERTH_T1_MAX_CPU_SECONDS?: number;
  BERTH_T1_MAX_MEMORY_BYTES?: number;
  BERTH_T1_CPUS?: number;
  BERTH_T1_CGROUPS?: "on" | "off";
}

export class SandboxLimitError extends Error {
  readonly code = "sandbox_limit_invalid";
}

export interface T1Limits {
  cgroup: CgroupLimits;
  /** prlimit arguments (without the command). */
  rlimits: { nofile: number; fsize: number; cpu: number; data: number; nproc?: number };
}

interface Spec {
  env: Exclude<keyof T1Env, "BERTH_T1_CGROUPS" | "BERTH_T1_CPUS">;
  def: number;
  /** The /proc/self/limits row its rlimit is checked against, if it is one. */
  rlimit?: string;
}

const SPECS = {
  procs: { env: "BERTH_T1_MAX_PROCS", def: 2048, rlimit: "Max processes" },
  files: { env: "BERTH_T1_MAX_FILES", def: 4096, rlimit: "Max open files" },
  fileBytes: { env: "BERTH_T1_MAX_FILE_BYTES", def: 4 * 1024 ** 3, rlimit: "Max file size" },
  cpuSeconds: { env: "BERTH_T1_MAX_CPU_SECONDS", def: 4 * 3600, rlimit: "Max cpu time" },
  memoryBytes: { env: "BERTH_T1_MAX_MEMORY_BYTES", def: 4 * 1024 ** 3, rlimit: "Max data size" },
} satisfies Record<string, Spec>;

/** Hard limits from /proc/self/limits by row name (Infinity: unlimited). */
export function parseHardLimits(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n").slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, m[3] === "unlimited" ? Infinity : Number(m[3]));
  }
  return out;
}

/**
 * The limits, or a SandboxLimitError naming the variable and what to set it to. `hard`:
 * berth's own hard limits, which the sandbox (an unprivileged process) cannot exceed.
 * `withCgroups`: the pids limit is the cgroup's, and RLIMIT_NPROC (per uid, shared by every
 * T1 sandbox) is raised to the hard limit so it is no longer the bound.
 */
export function t1Limits(
  env: T1Env,
  opts: { hard?: Map<string, number>; nrOpen?: number; withCgroups?: boolean } = {},
): T1Limits {
  const hard = opts.hard ?? parseHardLimits(readFileSync("/proc/self/limits", "utf8"));
  const nrOpen = opts.nrOpen ?? Number(readFileSync("/proc/sys/fs/nr_open", "utf8"));
  const get = (s: Spec): number => {
    const v = env[s.env] ?? s.def;
    const max = s.rlimit ? (hard.get(s.rlimit) ?? Infinity) : Infinity;
    // A cgroup bounds pids itself: only the rlimit needs to fit under berth's hard limit.
    if (v > max && !(s === SPECS.procs && opts.withCgroups))
      throw new SandboxLimitError(`${s.env}=${v} is above berth's hard limit of ${max} (${s.rlimit}), so the sandbox could not apply it; lower it, or raise berth's hard limit`);
    if (s === SPECS.files && v > nrOpen)
      throw new SandboxLimitError(`${s.env}=${v} is above the kernel's fs.nr_open (${nrOpen}); lower it`);
    return v;
  };
  const procs = get(SPECS.procs);
  const memoryBytes = get(SPECS.memoryBytes);
  const cpus = env.BERTH_T1_CPUS;
  const nprocHard = hard.get("Max processes") ?? Infinity;
  return {
    cgroup: { procs, memoryBytes, ...(cpus !== undefined ? { cpus } : {}) },
    rlimits: {
      nofile: get(SPECS.files),
      fsize: get(SPECS.fileBytes),
      cpu: get(SPECS.cpuSeconds),
      // Per process too: one process cannot take the whole sandbox's memory unnoticed by the others.
      data: memoryBytes,
      ...(opts.withCgroups ? (Number.isFinite(nprocHard) ? { nproc: nprocHard } : {}) : { nproc: procs }),
    },
  };
}

/** prlimit argv for the rlimits (nproc omitted: inherit berth's, i.e. its hard limit when raised). */
export function prlimitArgs(r: T1Limits["rlimits"]): string[] {
  return [
    "prlimit",
    ...(r.nproc !== undefined ? [`--nproc=${r.nproc}`] : ["--nproc=unlimited"]),
    `--nofile=${r.nofile}`,
    `--fsize=${r.fsize}`,
    `--cpu=${r.cpu}`,
    `--data=${r.data}`,
    "--core=0",
    "--",
  ];
}
