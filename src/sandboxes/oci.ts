import { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { PassThrough, type Duplex } from "node:stream";
import type Dockerode from "dockerode";
import { berthHome } from "../util/home.js";
import { PACKAGE_ROOT } from "../util/package-root.js";
import {
  AGENT_GID,
  AGENT_UID,
  SandboxUnavailableError,
  type SandboxDriver,
  type SandboxLayout,
  type SandboxProcess,
  type SandboxSpec,
  type Tier,
} from "./types.js";
import { containerSeccompProfile, readEngineDefaultProfile } from "./oci-seccomp.js";
import { attachStdio, connectOptions, engineClient, engineHost } from "./engine.js";
import { relayedCommand, relayForwards, RELAY_INSIDE, socketInside } from "./relay.js";
import { defaultLimits, type OciEnv, type OciLimits } from "./oci-limits.js";



export const DEFAULT_IMAGE = "localhost/berth-workspace:latest";
export const DEFAULT_IMAGE_T4 = "localhost/berth-workspace:t4";
// Paths in the installed package (it ships the setup script and the image recipes).
const SETUP_HINT = `run sudo bash ${PACKAGE_ROOT}/scripts/podman-setup.sh (installs podman and starts its API service)`;
const BUILD_HINT = `build it with sudo bash ${PACKAGE_ROOT}/scripts/podman-setup.sh, or: podman build --build-arg BASE=<a Debian image with Node 20> [--build-arg T4=1] -t <image> ${PACKAGE_ROOT}/images/workspace`;

const WORKSPACE = "/workspace";
const HOME = "/home/agent";
const HARNESS = "/opt/berth/harness";
/** Where the workspace images keep node (as the official node images do). */
const NODE = "/usr/local/bin/node";
/** Where a T4 sandbox finds the engine's API socket (the docker CLI's default). */
const ENGINE_SOCKET_INSIDE = "/var/run/docker.sock";

/** Labels on every container berth starts; reaping goes by them. */
export const LABEL = "berth";
export const LABEL_SESSION = "berth.session";
export const LABEL_OWNER = "berth.owner";
export const LABEL_TIER = "berth.tier";


export interface OciDriverOptions {
  /** The engine: a unix socket path, `unix://PATH`, or `tcp://HOST:PORT`. */
  host?: string;
  /** Image for T2/T3; T4 uses `imageT4` (the one with the escalation leg). */
  image?: string;
  imageT4?: string;
  limits?: Partial<OciLimits>;
  /**
   * Whose containers these are (label berth.owner): reapLabelled() only touches its
   * owner's, so several berth servers can share one engine. Default: berth's home.
   */
  owner?: string;
  /** Run a tiny init (catatonit/tini) as pid 1 so orphans are reaped. Default on. */
  init?: boolean;
  /** The operator's settings (parsed at start, config/env.ts); default: none set. */
  settings?: OciEnv;
  /**
   * A file written before this driver creates its first container: reapLabelled() asks the
   * engine only when it exists (and removes it after), so a server that never used a
   * container tier never loads the engine client at start.
   */
  usedMarker?: string;
}

/** Whether a directory strictly between `root` and `path` is a symlink. */
function hasSymlinkBetween(root: string, path: string): boolean {
  for (let d = dirname(path); d.length > root.length && d.startsWith(root); d = dirname(d))
    if (lstatSync(d, { throwIfNoEntry: false })?.isSymbolicLink()) return true;
  return false;
}

const statusOf = (e: unknown): number | undefined => (e as { statusCode?: number })?.statusCode;

/** Is something already listening on the host's 127.0.0.1:port? */
function loopbackServed(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    const done = (v: boolean) => {
      s.destroy();
      res(v);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/**
 * T2 `container`, T3 `privileged`, T4 `host-access`: OCI containers through the Docker
 * Engine API (Podman's Docker-compatible service, or Docker), with dockerode.
 *
 * Every container runs as uid/gid 1000 from the workspace image, with the workspace and
 * the session's HOME bound read-write, the harness read-only, labels berth=1,
 * berth.session, berth.owner, and AutoRemove. berth talks to the harness over the
 * container's attached stdio; stdin is StdinOnce, so when berth goes away (even SIGKILL)
 * the harness sees EOF, exits, and the engine removes the container.
 *
 * - T2: all capabilities dropped, no-new-privileges, read-only root with tmpfs /tmp and
 *   /var/tmp, memory/CPU/pids limits, no network (berth's sockets through the relay).
 * - T3: privileged, host pid namespace, no network (relay), same limits.
 * - T4: T3 plus the host network, the engine socket at /var/run/docker.sock (its group
 *   added) and the host root at /host (read-only bind); root only through the image's
 *   sudo + nsenter leg.
 */
export class OciDriver implements SandboxDriver {
  readonly name = "oci";
  readonly tiers = ["container", "privileged", "host-access"] as const;
  readonly host: string;
  readonly image: string;
  readonly imageT4: string;
  readonly limits: OciLimits;
  readonly owner: string;
  private readonly init: boolean;
  private readonly usedMarker?: string;
  private docker?: Promise<Dockerode>;

  constructor(opts: OciDriverOptions = {}) {
    const env = opts.settings ?? {};
    this.host = opts.host ?? engineHost(env);
    this.image = opts.image ?? env.BERTH_IMAGE ?? DEFAULT_IMAGE;
    this.imageT4 = opts.imageT4 ?? env.BERTH_IMAGE_T4 ?? DEFAULT_IMAGE_T4;
    this.limits = { ...defaultLimits(env), ...opts.limits };
    this.owner = opts.owner ?? berthHome(env.BERTH_HOME || undefined);
    this.init = opts.init ?? env.BERTH_OCI_INIT ?? true;
    this.usedMarker = opts.usedMarker;
  }

  /** dockerode loads ~0.5 s of modules; only pay for it when a container tier is used. */
  client(): Promise<Dockerode> {
    return (this.docker ??= engineClient(this.host));
  }

  imageFor(tier: Tier): string {
    return tier === "host-access" ? this.imageT4 : this.image;
  }

  private seccomp?: Promise<string>;

  /**
   * T2's seccomp profile (oci-seccomp.ts) as a security option. Docker takes the profile
   * inline; Podman's compatible API takes a path on the engine's host (it opens the value as
   * a file), so for Podman the profile is written to a private directory of this process.
   */
  private seccompOpt(): Promise<string> {
    return (this.seccomp ??= (async () => {
      const profile = JSON.stringify(containerSeccompProfile(readEngineDefaultProfile()));
      const version = await (await this.client()).version();
      if (!version.Components?.some((c) => /podman/i.test(c.Name))) return `seccomp=${profile}`;
      const file = join(mkdtempSync(join(tmpdir(), "berth-seccomp-")), "container.json");
      writeFileSync(file, profile, { mode: 0o644 });
      return `seccomp=${file}`;
    })());
  }

  private async ping(): Promise<Dockerode> {
    const unavailable = (why: string) =>
      new SandboxUnavailableError(
        `the container tiers need a Docker-compatible engine at ${this.host}, which does not answer (${why}): ${SETUP_HINT}, or point BERTH_DOCKER_HOST at a Docker/Podman socket`,
      );
    const sock = connectOptions(this.host).socketPath;
    if (sock && !existsSync(sock)) throw unavailable(`no socket ${sock}`);
    const docker = await this.client();
    try {
      await docker.ping();
    } catch (e) {
      throw unavailable((e as Error).message);
    }
    return docker;
  }

  private async checkImage(docker: Dockerode, image: string): Promise<void> {
    try {
      await docker.getImage(image).inspect();
    } catch (e) {
      if (statusOf(e) === 404) throw new SandboxUnavailableError(`image ${image} is not in the engine at ${this.host}: ${BUILD_HINT}`);
      throw e;
    }
  }

  async check(tier?: Tier): Promise<void> {
    const docker = await this.ping();
    await this.checkImage(docker, tier ? this.imageFor(tier) : this.image);
  }

  layout(): SandboxLayout {
    return { workspace: WORKSPACE, home: HOME, harnessRoot: HARNESS, node: NODE };
  }

  /** The container's command (and the relay's variables) when berth's sockets must appear on loopback. */
  private async command(spec: SandboxSpec): Promise<{ command: string[]; env: Record<string, string> }> {
    if (!spec.net) return { command: spec.command, env: {} };
    let forwards = relayForwards(spec.net);
    if (spec.tier === "host-access") {
      // T4 shares the host's loopback: a port berth already serves there (the gateway) is
      // reachable as is, and relaying it would collide with it.
      const served = await Promise.all(forwards.map((f) => loopbackServed(f.port)));
      forwards = forwards.filter((_f, i) => !served[i]);
      if (forwards.length === 0) return { command: spec.command, env: {} };
    }
    return relayedCommand(NODE, RELAY_INSIDE, forwards, spec.command);
  }

  /**
   * Bind mounts, as structured Mounts (not "src:dst:opts" strings, which a path with a
   * colon would break).
   */
  private mounts(spec: SandboxSpec): Dockerode.MountSettings[] {
    const bind = (Source: string, Target: string, ReadOnly: boolean): Dockerode.MountSettings => ({ Type: "bind", Source, Target, ReadOnly });
    const m = [bind(spec.workspace, WORKSPACE, false), bind(spec.home, HOME, false), bind(spec.harnessDir, HARNESS, true)];
    for (const p of spec.protect ?? []) {
      const host = resolve(spec.workspace, p);
      if (!host.startsWith(spec.workspace + "/")) continue;
      // The engine resolves a bind's source as root on the host: never through a symlink
      // the agent may have planted.
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (st && !st.isSymbolicLink() && !hasSymlinkBetween(spec.workspace, host)) m.push(bind(host, `${WORKSPACE}/${p}`, true));
    }
    for (const f of spec.files ?? []) m.push(bind(f.hostPath, f.path, true));
    if (spec.net) {
      m.push(bind(spec.net.relayScript, RELAY_INSIDE, true));
      spec.net.forwards.forEach((f, i) => m.push(bind(f.socket, socketInside(i), false)));
    }
    if (spec.tier === "host-access") {
      m.push(bind("/", "/host", true));
      const sock = connectOptions(this.host).socketPath;
      if (sock && existsSync(sock)) m.push(bind(sock, ENGINE_SOCKET_INSIDE, false));
    }
    return m;
  }

  /** The create request for a spec (exported for tests and `berth` diagnostics). */
  async createOptions(spec: SandboxSpec): Promise<Dockerode.ContainerCreateOptions> {
    const tier = spec.tier;
    if (!(this.tiers as readonly string[]).includes(tier)) throw new SandboxUnavailableError(`the oci driver does not run tier '${tier}'`);
    const l = this.limits;
    const host: Dockerode.HostConfig = {
      Mounts: this.mounts(spec),
      AutoRemove: true,
      // pid 1 reaps orphans (T2 only: with the host's pid namespace there is no pid 1 of our own).
      Init: this.init && tier === "container",
      Memory: l.memory,
      MemorySwap: l.memory,
      NanoCpus: l.nanoCpus,
      PidsLimit: l.pids,
      Ulimits: [
        { Name: "nofile", Soft: l.nofile, Hard: l.nofile },
        { Name: "nproc", Soft: l.nproc, Hard: l.nproc },
      ],
      // The conversation is berth's to record, not the engine's log driver's.
      LogConfig: { Type: "none", Config: {} },
    };
    if (tier === "container") {
      Object.assign(host, {
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges", await this.seccompOpt()],
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": "rw,nosuid,nodev,mode=1777", "/var/tmp": "rw,nosuid,nodev,mode=1777" },
        NetworkMode: "none",
      });
    } else {
      Object.assign(host, { Privileged: true, PidMode: "host", NetworkMode: tier === "host-access" ? "host" : "none" });
    }
    const sock = connectOptions(this.host).socketPath;
    if (tier === "host-access" && sock && existsSync(sock)) {
      // The agent (uid 1000) reaches the engine through the socket's group.
      const st = statSync(sock);
      if (st.gid !== 0 && st.mode & 0o060) host.GroupAdd = [String(st.gid)];
    }
    const relayed = await this.command(spec);
    const env: Record<string, string> = { HOME, USER: "agent", LANG: "C.UTF-8", TMPDIR: "/tmp", ...spec.env, ...relayed.env };
    return {
      name: `berth-${spec.sessionId.replace(/[^a-zA-Z0-9_.-]/g, "-")}-${randomUUID().slice(0, 8)}`,
      Image: this.imageFor(tier),
      Cmd: relayed.command,
      User: `${AGENT_UID}:${AGENT_GID}`,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: WORKSPACE,
      // T4 shares the host's network, and keeps its name (sudo wants it resolvable).
      ...(tier === "host-access" ? {} : { Hostname: "berth" }),
      Labels: { [LABEL]: "1", [LABEL_SESSION]: spec.sessionId, [LABEL_OWNER]: this.owner, [LABEL_TIER]: tier },
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: true,
      // Closing berth's end of stdin (berth exits or dies) closes the harness's stdin.
      StdinOnce: true,
      Tty: false,
      StopTimeout: 2,
      HostConfig: host,
    };
  }

  async start(spec: SandboxSpec): Promise<SandboxProcess> {
    const docker = await this.ping();
    const opts = await this.createOptions(spec);
    if (this.usedMarker && !existsSync(this.usedMarker)) writeFileSync(this.usedMarker, "", { mode: 0o600 });
    let container: Dockerode.Container;
    try {
      container = await docker.createContainer(opts);
    } catch (e) {
      if (statusOf(e) === 404) throw new SandboxUnavailableError(`image ${opts.Image} is not in the engine at ${this.host}: ${BUILD_HINT}`);
      throw new SandboxUnavailableError(`could not create the ${spec.tier} container: ${(e as Error).message}`);
    }
    const id = container.id;
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const child = new ChildProcess();
    let stream: Duplex;
    let waited: Promise<{ StatusCode?: number }>;
    try {
      // Attach and wait before start, so no output and no exit is missed.
      stream = await attachStdio(this.host, id);
      waited = container.wait({ condition: "next-exit" }) as Promise<{ StatusCode?: number }>;
      waited.catch(() => {});
      await container.start();
    } catch (e) {
      await container.remove({ force: true }).catch(() => {});
      throw new SandboxUnavailableError(`could not start the ${spec.tier} container: ${(e as Error).message}`);
    }
    docker.modem.demuxStream(stream, stdout, stderr);
    const streamDone = new Promise<void>((res) => {
      stream.once("end", res);
      stream.once("close", res);
      stream.once("error", res);
    });
    void streamDone.then(() => {
      stdout.end();
      stderr.end();
    });
    // A harness that dies mid-write must not take berth down with an unhandled EPIPE.
    for (const s of [stream, stdin, stdout, stderr]) s.on("error", () => {});
    stdin.pipe(stream);

    const exited = (async () => {
      let code: number | null = null;
      try {
        code = (await waited).StatusCode ?? null;
      } catch {
        // The engine connection went away: the stream's end is all we know.
        await streamDone;
      }
      // Let the last output drain before reporting the exit.
      await Promise.race([streamDone, new Promise((r) => setTimeout(r, 2000))]);
      child.emit("exit", code, null);
      return { code, signal: null as NodeJS.Signals | null };
    })();

    let pid = -1;
    try {
      pid = (await container.inspect()).State?.Pid || -1;
    } catch {
      /* already gone (a command that exits at once) */
    }

    let killing: Promise<void> | undefined;
    const kill = () =>
      (killing ??= (async () => {
        try {
          await container.stop({ t: 2 });
        } catch {
          /* not running, or already removed */
        }
        await this.removeAndWait(docker, id);
        stdin.destroy();
        stream.destroy();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      })());

    return { id: randomUUID(), driver: this.name, pid, ref: id, stdin, stdout, stderr, child, exited, kill };
  }

  /** Removes a container (force) and resolves once the engine no longer knows it. */
  private async removeAndWait(docker: Dockerode, id: string): Promise<void> {
    const c = docker.getContainer(id);
    for (let i = 0; i < 200; i++) {
      try {
        await c.remove({ force: true });
      } catch (e) {
        // 404: gone. 409: AutoRemove is already removing it.
        if (statusOf(e) === 404) return;
      }
      try {
        await c.inspect();
      } catch (e) {
        if (statusOf(e) === 404) return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Removes a container left by a previous berth process, if the engine still has it. */
  async reap(_pid: number | null, ref: string | null): Promise<void> {
    if (!ref) return;
    let docker: Dockerode;
    try {
      docker = await this.ping();
    } catch {
      return; // no engine, no container
    }
    await this.removeAndWait(docker, ref);
  }

  /**
   * Removes every container labelled berth=1 and owned by this berth (label berth.owner)
   * whose id is not in `keep`. berth calls it on start-up, after recover(), so a container
   * started just before a crash (before it was recorded) does not outlive it. Resolves to
   * the ids removed; an engine that does not answer has nothing to reap.
   */
  async reapLabelled(keep: Iterable<string> = []): Promise<string[]> {
    const marker = this.usedMarker;
    if (marker && !existsSync(marker)) return [];
    let docker: Dockerode;
    try {
      docker = await this.ping();
    } catch {
      return [];
    }
    const kept = new Set(keep);
    const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=1`, `${LABEL_OWNER}=${this.owner}`] } });
    const gone = list.filter((c) => !kept.has(c.Id) && !kept.has(c.Id.slice(0, 12)) && c.Labels?.[LABEL_OWNER] === this.owner).map((c) => c.Id);
    await Promise.all(gone.map((id) => this.removeAndWait(docker, id)));
    if (marker && !kept.size) rmSync(marker, { force: true });
    return gone;
  }
}
