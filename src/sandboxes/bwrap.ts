import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import {
  AGENT_GID,
  AGENT_UID,
  SandboxUnavailableError,
  type SandboxDriver,
  type SandboxLayout,
  type SandboxProcess,
  type SandboxSpec,
} from "./types.js";
import { unreachableAncestor } from "./agent-owner.js";
import { assertWritable, locateCgroups, SandboxCgroups, type SandboxCgroup } from "./cgroups.js";
import { killGroup, reapTree, spawnTree } from "./process-tree.js";
import { encodeProgram, nativeArch, seccompProgram } from "./seccomp.js";
import { relayedCommand, relayForwards, RELAY_INSIDE, socketInside } from "./relay.js";
import { prlimitArgs, t1Limits, type T1Env } from "./t1-limits.js";

const run = promisify(execFile);

/** Writes the T1 seccomp program (seccomp.ts) for this host's architecture into `dir`. */
function writeSeccompFilter(dir: string): string {
  const arch = nativeArch();
  if (!arch) throw new SandboxUnavailableError(`tier 'process' has no seccomp filter for ${process.arch}; it supports x86_64 and aarch64`);
  const file = join(dir, "seccomp.bpf");
  writeFileSync(file, encodeProgram(seccompProgram(arch)), { mode: 0o600 });
  return file;
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\)/, ""));
  } catch {
    return true;
  }
}

/**
 * The workspace opened as the directory it is now, never through a link: bwrap binds this
 * very directory (--bind-fd), whatever its path leads to by the time bwrap runs.
 */
export function openWorkspaceDir(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  const at = readlinkSync(`/proc/self/fd/${fd}`);
  if (at !== path) {
    closeSync(fd);
    throw Object.assign(new Error(`workspace ${path} was replaced while the sandbox started (it now leads to ${at})`), { code: "workspace_changed" });
  }
  return fd;
}

/** Where the workspace's directory fd sits in bwrap's fd table (after stdin/out/err, --info-fd 3 and --seccomp 4). */
const WORKSPACE_FD = 5;

const WORKSPACE = "/workspace";
const HOME = "/home/agent";
const HARNESS = "/opt/berth/harness";

// The host /etc is not exposed whole: only what a TLS-speaking Node program needs.
// passwd and group are generated so uid 1000 has a name and a home.
const ETC_RO = [
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/localtime",
  "/etc/alternatives",
  "/etc/ld.so.cache",
  "/etc/host.conf",
  "/etc/gai.conf",
];

export interface BwrapOptions {
  /** Whose sandboxes these are (berth's home): names the cgroup directory its leftovers are found in. */
  owner?: string;
  /** The operator's BERTH_T1_* settings (parsed at start; default: none set). */
  t1?: T1Env;
  /** The cgroup mount root (default /sys/fs/cgroup). */
  cgroupRoot?: string;
}

// Run as root before dropping to uid 1000: moves itself into each of the sandbox's cgroups
// (so everything bwrap forks starts inside them), then execs the rest of the argv.
const ENTER_CGROUP = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

/**
 * T1 `process`: bubblewrap. Read-only /usr, a minimal /etc, writable workspace only,
 * private HOME and /tmp, uid/gid 1000, new pid/ipc/uts/user/cgroup namespaces, a new
 * session (no TIOCSTI into berth's terminal), and --die-with-parent so the sandbox dies
 * with berth. With spec.net, a new network namespace with only loopback: berth's sockets
 * are bound in and the relay exposes them on 127.0.0.1.
 */
export class BwrapDriver implements SandboxDriver {
  readonly name = "bwrap";
  readonly tiers = ["process"] as const;
  private bwrap = "bwrap";
  private t1: T1Env;

  private checked = false;
  /** Per-sandbox cgroups; null when the operator turned them off (BERTH_T1_CGROUPS=off). */
  private cgroups: SandboxCgroups | null = null;

  constructor(private opts: BwrapOptions = {}) {
    this.t1 = opts.t1 ?? {};
  }

  /** True when the operator runs T1 without per-sandbox cgroups (berth warns at start). */
  get cgroupsOff(): boolean {
    return this.t1.BERTH_T1_CGROUPS === "off";
  }

  async check(): Promise<void> {
    if (this.checked) return; // once per process: it sits on every session's start path
    try {
      await run(this.bwrap, ["--version"]);
    } catch {
      throw new SandboxUnavailableError(
        "tier 'process' needs bubblewrap: install it with `apt-get install bubblewrap` (or your distribution's package)",
      );
    }
    if (this.t1.BERTH_T1_CGROUPS !== "off") {
      const host = locateCgroups(this.opts.cgroupRoot);
      assertWritable(host);
      this.cgroups = new SandboxCgroups(host, this.opts.owner ?? "berth");
    }
    this.checked = true;
  }

  /** Kills and removes the sandbox cgroups a previous berth process of this owner left behind. */
  async reapLeftovers(): Promise<number> {
    try {
      await this.check();
    } catch {
      return 0; // T1 unavailable here: it cannot have left anything either
    }
    return (await this.cgroups?.reapLeftovers(new Set(this.running))) ?? 0;
  }

  /** Names of the cgroups of sandboxes this process runs. */
  private running = new Set<string>();

  layout(): SandboxLayout {
    return { workspace: WORKSPACE, home: HOME, harnessRoot: HARNESS, node: "/usr/bin/node" };
  }

  /** bwrap argv; `etc` holds the generated passwd and group; `workspaceFd`: the workspace is bound from that fd. */
  args(spec: SandboxSpec, etc: string, workspaceFd?: number): string[] {
    const a = [
      "--unshare-all",
      "--die-with-parent",
      "--new-session",
      "--uid", String(AGENT_UID),
      "--gid", String(AGENT_GID),
      "--hostname", "berth",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/sbin", "/sbin",
      "--symlink", "usr/lib", "/lib",
      "--proc", "/proc",
      "--dev", "/dev",
      "--tmpfs", "/tmp",
      "--tmpfs", "/var/tmp",
      "--ro-bind", join(etc, "passwd"), "/etc/passwd",
      "--ro-bind", join(etc, "group"), "/etc/group",
    ];
    if (existsSync("/lib64")) a.push("--symlink", "usr/lib64", "/lib64");
    for (const p of ETC_RO) if (existsSync(p)) a.push("--ro-bind", p, p);
    a.push(
      ...(workspaceFd !== undefined ? ["--bind-fd", String(workspaceFd), WORKSPACE] : ["--bind", spec.workspace, WORKSPACE]),
      ...(spec.protect ?? []).filter((r) => existsSync(join(spec.workspace, r))).flatMap((r) => ["--ro-bind", join(spec.workspace, r), `${WORKSPACE}/${r}`]),
      "--bind", spec.home, HOME,
      "--ro-bind", spec.harnessDir, HARNESS,
      ...(spec.files ?? []).flatMap((f) => ["--ro-bind", f.hostPath, f.path]),
      ...this.netMounts(spec),
      // The root bwrap builds is a tmpfs; make it read-only now that everything is mounted,
      // so only /workspace, HOME and the two tmpfs temp dirs are writable.
      "--remount-ro", "/",
      "--chdir", WORKSPACE,
      "--",
      ...this.command(spec),
    );
    return a;
  }

  /**
   * The sandbox's whole environment. It is bwrap's own environment, which the sandbox
   * inherits, rather than --setenv arguments: argv is world-readable in /proc, and the
   * gateway token is in here.
   */
  env(spec: SandboxSpec): Record<string, string> {
    return { PATH: "/usr/local/bin:/usr/bin:/bin", HOME, USER: "agent", LANG: "C.UTF-8", TMPDIR: "/tmp", ...spec.env, ...this.relayed(spec)?.env };
  }

  /** With spec.net, berth's sockets appear on loopback through the relay (sandboxes/relay.ts). */
  private relayed(spec: SandboxSpec): ReturnType<typeof relayedCommand> | undefined {
    if (!spec.net) return undefined;
    return relayedCommand(this.layout().node, RELAY_INSIDE, relayForwards(spec.net), spec.command);
  }

  private command(spec: SandboxSpec): string[] {
    return this.relayed(spec)?.command ?? spec.command;
  }

  private netMounts(spec: SandboxSpec): string[] {
    if (!spec.net) return ["--share-net"];
    return [
      "--ro-bind", spec.net.relayScript, RELAY_INSIDE,
      ...spec.net.forwards.flatMap((f, i) => ["--bind", f.socket, socketInside(i)]),
    ];
  }

  async start(spec: SandboxSpec): Promise<SandboxProcess> {
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // As root, bwrap itself runs as uid 1000: a real unprivileged user on the host, not
      // root mapped into a namespace, so nothing root-owned is within its reach. It must
      // therefore be able to walk to every path it binds.
      for (const p of [spec.workspace, spec.home, spec.harnessDir]) {
        const blocked = unreachableAncestor(p, AGENT_UID, AGENT_GID);
        if (blocked)
          throw new SandboxUnavailableError(`uid ${AGENT_UID} cannot reach ${p}: ${blocked} is not searchable by it (chmod o+x, or use paths outside /root)`);
      }
    }
    const etc = join(dirname(spec.home), "etc");
    mkdirSync(etc, { recursive: true, mode: 0o755 });
    writeFileSync(join(etc, "passwd"), `root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:${AGENT_UID}:${AGENT_GID}:agent:${HOME}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    writeFileSync(join(etc, "group"), `root:x:0:\nagent:x:${AGENT_GID}:\nnogroup:x:65534:\n`);
    // Validated before anything is spawned: a limit prlimit cannot apply would otherwise
    // kill the sandbox before the harness reads its first message.
    const limits = t1Limits(this.t1, { withCgroups: this.cgroups !== null });
    const cgName = `${spec.sessionId}-${randomUUID().slice(0, 8)}`;
    let cg: SandboxCgroup | undefined;
    try {
      cg = this.cgroups?.create(cgName, limits.cgroup);
      if (spec.background) cg?.setCpuPriority("background");
    } catch (e) {
      await this.cgroups?.open(cgName).destroy();
      throw new SandboxUnavailableError(`could not create the sandbox's cgroup: ${(e as Error).message}`);
    }
    // As root, the wrapper enters the cgroups, then setpriv drops to uid 1000 before prlimit and
    // bwrap run (Node's spawn uid option would drop before the cgroup could be entered).
    const argv = [
      ...(cg ? ["/bin/sh", "-c", ENTER_CGROUP, "berth-enter-cgroup", String(cg.procsFiles.length), ...cg.procsFiles] : []),
      ...(asRoot ? ["setpriv", `--reuid=${AGENT_UID}`, `--regid=${AGENT_GID}`, "--clear-groups", "--"] : []),
      ...prlimitArgs(limits.rlimits),
      this.bwrap,
      // fd 3 carries bwrap's --info-fd JSON: the pid of the sandbox's init, outside view.
      "--info-fd", "3",
      // fd 4: the seccomp filter, loaded just before the command runs. No user namespace can
      // be created inside (the filter refuses unshare/clone with namespace flags too).
      "--seccomp", "4",
      "--unshare-user", "--disable-userns",
      ...this.args(spec, etc, WORKSPACE_FD),
    ];
    const filter = openSync(writeSeccompFilter(etc), "r");
    let wsFd: number | undefined;
    let proc: SandboxProcess;
    try {
      wsFd = openWorkspaceDir(spec.workspace);
      // The cgroup wrapper is a root shell: no start-up file named in its environment may run.
      const env = this.env(spec);
      delete env.BASH_ENV;
      delete env.ENV;
      proc = spawnTree(this.name, argv, { cwd: "/", env, stdio: ["pipe", "pipe", "pipe", "pipe", filter, wsFd] });
    } finally {
      // The child has its own copies.
      closeSync(filter);
      if (wsFd !== undefined) closeSync(wsFd);
    }
    if (cg) {
      this.running.add(cgName);
      const sandboxCg = cg;
      // Whatever ends the sandbox, nothing of it outlives its cgroup.
      void proc.exited.then(async () => {
        await sandboxCg.destroy();
        this.running.delete(cgName);
      });
    }
    const info = proc.child.stdio[3] as NodeJS.ReadableStream | null;
    let initPid = 0;
    let buf = "";
    info?.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(buf);
      if (m) initPid = Number(m[1]);
    });
    info?.on("error", () => {});
    if (cg && spec.background) {
      const sandboxCg = cg;
      proc.foreground = () => sandboxCg.setCpuPriority("normal");
    }
    const killTree = proc.kill;
    // The sandbox runs in its own session and pid namespace, out of reach of a process-group
    // signal; killing its init makes the kernel kill everything in the namespace. Resolve
    // only once that init is gone, so "ended" means no sandbox process is left.
    proc.kill = async () => {
      if (initPid > 0) killGroup(initPid, "SIGKILL");
      await killTree();
      for (let i = 0; initPid > 0 && i < 100 && existsSync(`/proc/${initPid}`) && !isZombie(initPid); i++)
        await new Promise((r) => setTimeout(r, 20));
      await cg?.destroy();
    };
    return proc;
  }

  reap(pid: number | null, ref: string | null): Promise<void> {
    return reapTree(pid, ref);
  }
}
