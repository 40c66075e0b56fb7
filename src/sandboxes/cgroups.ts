import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Per-sandbox cgroups for T1. bwrap sandboxes all run as host uid 1000, so per-uid limits
 * (RLIMIT_NPROC) are shared between them: one sandbox's fork bomb would starve the others.
 * A cgroup per sandbox bounds pids, memory (+swap) and CPU for that sandbox alone. Sandbox
 * cgroups are children of berth's own cgroup in each controller, so they nest under
 * whatever limits berth itself runs with, grouped under one directory per berth owner
 * (its home) so a crashed berth's leftovers can be found and reaped.
 */

/** The controllers berth limits. */
export const CONTROLLERS = ["pids", "memory", "cpu"] as const;
type Controller = (typeof CONTROLLERS)[number];

export interface CgroupLimits {
  /** pids.max */
  procs: number;
  /** memory limit, swap included where the kernel accounts it. */
  memoryBytes: number;
  /** CPU quota in CPUs (e.g. 1.5); undefined: no quota. */
  cpus?: number;
}

export interface CgroupHost {
  version: 1 | 2;
  /** v1: berth's own cgroup directory per controller. v2: berth's own cgroup (one entry, "unified"). */
  bases: Record<string, string>;
}

export class CgroupUnavailableError extends Error {
  readonly code = "sandbox_unavailable";
}

const HOW_TO_FIX =
  "run berth as root, or in a cgroup delegated to its user (e.g. systemd Delegate=yes), or set BERTH_T1_CGROUPS=off to run T1 sandboxes without per-sandbox limits (not recommended)";

/** /proc/self/cgroup → controller ("" for the v2 unified line) → path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(",")) out.set(c, m[2]!);
  }
  return out;
}

/**
 * Where berth's own cgroups are, in the hierarchy this host has: v2 when the mount root is
 * a unified hierarchy (it has cgroup.controllers), else v1 with a mount per controller
 * (possibly co-mounted, e.g. cpu,cpuacct).
 */
export function locateCgroups(root = "/sys/fs/cgroup", self = readFileSync("/proc/self/cgroup", "utf8")): CgroupHost {
  const mine = parseProcCgroup(self);
  if (existsSync(join(root, "cgroup.controllers"))) {
    const path = mine.get("");
    if (path === undefined) throw new CgroupUnavailableError("berth's cgroup v2 path is missing from /proc/self/cgroup");
    const base = join(root, path).replace(/(.)\/+$/, "$1");
    const have = readFileSync(join(base, "cgroup.controllers"), "utf8").trim().split(/\s+/);
    const missing = CONTROLLERS.filter((c) => !have.includes(c));
    if (missing.length)
      throw new CgroupUnavailableError(`berth's cgroup ${base} does not have the ${missing.join(", ")} controller(s) delegated to it; ${HOW_TO_FIX}`);
    return { version: 2, bases: { unified: base } };
  }
  const mounts = existsSync(root) ? readdirSync(root) : [];
  const bases: Record<string, string> = {};
  for (const c of CONTROLLERS) {
    const mount = mounts.find((m) => m.split(",").includes(c) && existsSync(join(root, m, "cgroup.procs")));
    const path = mine.get(c);
    if (!mount || path === undefined) throw new CgroupUnavailableError(`no cgroup v1 ${c} controller is mounted under ${root}; ${HOW_TO_FIX}`);
    bases[c] = join(root, mount, path).replace(/(.)\/+$/, "$1");
  }
  return { version: 1, bases };
}

/** The directory name of one berth owner's sandbox cgroups (owner: berth's home). */
export function ownerDirName(owner: string): string {
  return `berth-${createHash("sha256").update(owner).digest("hex").slice(0, 12)}`;
}

/** Throws a CgroupUnavailableError saying how to fix it unless berth can create child cgroups. */
export function assertWritable(host: CgroupHost): void {
  for (const base of Object.values(host.bases)) {
    try {
      accessSync(base, constants.W_OK);
    } catch {
      throw new CgroupUnavailableError(`berth cannot create per-sandbox cgroups under ${base} (not writable by uid ${process.getuid?.()}); ${HOW_TO_FIX}`);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readPids(procsFile: string): number[] {
  try {
    return readFileSync(procsFile, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** One sandbox's cgroup: one directory per controller (v1) or one directory (v2). */
export class SandboxCgroup {
  constructor(
    readonly version: 1 | 2,
    readonly dirs: string[],
  ) {}

  /** The cgroup.procs files a process writes its pid into to enter the sandbox's cgroup. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, "cgroup.procs"));
  }

  pids(): number[] {
    return [...new Set(this.procsFiles.flatMap(readPids))];
  }

  /**
   * SIGKILLs everything in the cgroup and resolves once it is empty. v2 has cgroup.kill; v1
   * kills every listed pid until none is left (a process forked meanwhile shows up on the
   * next pass, and the pids limit bounds how many there can be).
   */
  async kill(): Promise<void> {
    const killFile = join(this.dirs[0]!, "cgroup.kill");
    if (this.version === 2 && existsSync(killFile)) {
      try {
        writeFileSync(killFile, "1");
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 500; i++) {
      const pids = this.pids();
      if (!pids.length) return;
      for (const p of pids) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          /* exited meanwhile */
        }
      }
      await sleep(i < 10 ? 5 : 20);
    }
  }

  /**
   * CPU share under contention: `background` (a warm pool entry not yet claimed) yields to
   * every normal sandbox and to berth; `normal` is the kernel's default. No cap either way.
   */
  setCpuPriority(priority: "background" | "normal"): void {
    const [file, value] = this.version === 2 ? ["cpu.weight", priority === "background" ? "1" : "100"] : ["cpu.shares", priority === "background" ? "2" : "1024"];
    for (const d of this.dirs) {
      if (!existsSync(join(d, file))) continue;
      try {
        writeFileSync(join(d, file), value);
      } catch {
        /* the sandbox is gone */
      }
    }
  }

  /** Kills what is left and removes the cgroup's directories. */
  async destroy(): Promise<void> {
    await this.kill();
    for (const d of this.dirs) {
      for (let i = 0; i < 50 && existsSync(d); i++) {
        try {
          rmdirSync(d);
        } catch {
          await sleep(20); // EBUSY while the last processes are being reaped
        }
      }
    }
  }
}

/** Creates, lists and reaps the sandbox cgroups of one berth owner. */
export class SandboxCgroups {
  private readonly ownerDir: string;

  constructor(
    readonly host: CgroupHost,
    owner: string,
  ) {
    this.ownerDir = ownerDirName(owner);
  }

  private dirsFor(name: string): string[] {
    return Object.values(this.host.bases).map((b) => join(b, this.ownerDir, name));
  }

  /** Creates the sandbox's cgroup with its limits, before anything runs in it. */
  create(name: string, limits: CgroupLimits): SandboxCgroup {
    if (this.host.version === 2) return this.createV2(name, limits);
    const dirs: string[] = [];
    for (const [controller, base] of Object.entries(this.host.bases) as [Controller, string][]) {
      const dir = join(base, this.ownerDir, name);
      mkdirSync(dir, { recursive: true });
      dirs.push(dir);
      if (controller === "pids") writeFileSync(join(dir, "pids.max"), String(limits.procs));
      if (controller === "memory") {
        // memsw (memory+swap) can only be set at or above the memory limit, so memory first.
        writeFileSync(join(dir, "memory.limit_in_bytes"), String(limits.memoryBytes));
        const memsw = join(dir, "memory.memsw.limit_in_bytes");
        if (existsSync(memsw)) writeFileSync(memsw, String(limits.memoryBytes));
      }
      if (controller === "cpu" && limits.cpus !== undefined) {
        writeFileSync(join(dir, "cpu.cfs_period_us"), "100000");
        writeFileSync(join(dir, "cpu.cfs_quota_us"), String(Math.round(limits.cpus * 100000)));
      }
    }
    return new SandboxCgroup(1, dirs);
  }

  /**
   * v2's no-internal-processes rule: a cgroup that enables controllers for its children
   * must hold no processes itself. berth's own cgroup (unless it is the root) therefore
   * moves berth's processes into a leaf (berth.server) before delegating the controllers
   * down to the owner directory and the sandbox cgroups under it.
   */
  private createV2(name: string, limits: CgroupLimits): SandboxCgroup {
    const base = this.host.bases.unified!;
    const enable = CONTROLLERS.map((c) => `+${c}`).join(" ");
    const enabled = (dir: string) => (existsSync(join(dir, "cgroup.subtree_control")) ? readFileSync(join(dir, "cgroup.subtree_control"), "utf8").trim().split(/\s+/) : []);
    if (!CONTROLLERS.every((c) => enabled(base).includes(c))) {
      const procs = readPids(join(base, "cgroup.procs"));
      if (procs.length) {
        const leaf = join(base, "berth.server");
        mkdirSync(leaf, { recursive: true });
        for (const p of procs) writeFileSync(join(leaf, "cgroup.procs"), String(p));
      }
      writeFileSync(join(base, "cgroup.subtree_control"), enable);
    }
    const ownerDir = join(base, this.ownerDir);
    mkdirSync(ownerDir, { recursive: true });
    if (!CONTROLLERS.every((c) => enabled(ownerDir).includes(c))) writeFileSync(join(ownerDir, "cgroup.subtree_control"), enable);
    const dir = join(ownerDir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "pids.max"), String(limits.procs));
    writeFileSync(join(dir, "memory.max"), String(limits.memoryBytes));
    // memory.max does not count swap; with no swap allowed, memory.max is the whole bound.
    if (existsSync(join(dir, "memory.swap.max"))) writeFileSync(join(dir, "memory.swap.max"), "0");
    writeFileSync(join(dir, "cpu.max"), limits.cpus === undefined ? "max 100000" : `${Math.round(limits.cpus * 100000)} 100000`);
    return new SandboxCgroup(2, [dir]);
  }

  /** Sandbox cgroups of this owner that exist now (after a crash: leftovers). */
  list(): string[] {
    const names = new Set<string>();
    for (const b of Object.values(this.host.bases)) {
      const d = join(b, this.ownerDir);
      if (!existsSync(d)) continue;
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    }
    return [...names];
  }

  /** The cgroup of a sandbox by name (to kill and remove it). */
  open(name: string): SandboxCgroup {
    return new SandboxCgroup(this.host.version, this.dirsFor(name).filter((d) => existsSync(d)));
  }

  /** Kills and removes every sandbox cgroup of this owner except those named in `keep`. */
  async reapLeftovers(keep: Set<string> = new Set()): Promise<number> {
    let n = 0;
    for (const name of this.list()) {
      if (keep.has(name)) continue;
      await this.open(name).destroy();
      n++;
    }
    return n;
  }
}
