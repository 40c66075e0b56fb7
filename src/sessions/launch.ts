import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LimitFunction } from "p-limit";
import type { Logger } from "pino";
import type { McpServer, RequestPermissionRequest, RequestPermissionResponse, SessionUpdate } from "@agentclientprotocol/sdk";
import type { AcpAgentConnection } from "../acp/agent-connection.js";
import type { ModelGateway, SessionScope } from "../gateway/gateway.js";
import { capabilitiesFrom, recordCapabilities } from "../harnesses/capabilities.js";
import type { HarnessInstaller } from "../harnesses/installer.js";
import type { HarnessSpec, LaunchPlan } from "../harnesses/types.js";
import type { ResolvedRoute } from "../providers/registry.js";
import { mkdirForAgent, mkdirsForAgent, writeAgentFile } from "../sandboxes/agent-owner.js";
import { EgressProxy } from "../sandboxes/egress/proxy.js";
import { writeRelay } from "../sandboxes/relay.js";
import { PROTECTED_WORKSPACE_PATHS, type SandboxDriver, type SandboxLayout, type SandboxNet, type SandboxProcess, type SandboxSpec, type Tier } from "../sandboxes/types.js";
import { gitCredentialSandboxFiles } from "../secrets/git-credential-helper.js";
import type { SessionStore } from "./store.js";
import type { SessionRecord } from "./types.js";
import { gitCloneCommand, type GitSeed } from "./workspace-source.js";
import type { Metrics } from "../telemetry/metrics.js";
import { withDeadline } from "../util/limits.js";
import { BerthError } from "../util/errors.js";

/** Where the session's egress proxy appears inside an isolated sandbox. */
export const EGRESS_PROXY_PORT = 3128;

export interface LaunchDeps {
  installer: HarnessInstaller;
  gateway: ModelGateway;
  store: Pick<SessionStore, "insertSandbox" | "deleteSandbox" | "setAcpSessionId">;
  logger: Logger;
  metrics?: Metrics;
  /** Bounds how many sandboxes start at once (BERTH_MAX_CONCURRENT_STARTS); unbounded without. */
  startSlots?: LimitFunction;
}

/**
 * The session a launch starts for. Each part is attached as soon as it exists, so that a
 * teardown during (or after a failed) launch stops whatever was started.
 */
export interface LaunchTarget {
  readonly id: string;
  readonly spec: HarnessSpec;
  readonly driver: SandboxDriver;
  readonly route: ResolvedRoute;
  /** Set by the owner when the session is being ended: the launch stops at its next step. */
  ending: boolean;
  egress?: EgressProxy;
  proc?: SandboxProcess;
  sandboxRowId?: string;
  agent?: AcpAgentConnection;
  acpSessionId?: string;
  /** During ACP session/load the agent replays the conversation; berth's log already has it. */
  replaying?: boolean;
}

/** What the session's owner is told, and decides, while its harness launches. */
export interface LaunchHooks {
  /** Progress while the harness is installed (first use). */
  status(detail: string): void;
  /**
   * What the session's gateway token may do. Absent for a pooled entry (sessions/pool.ts):
   * its token is minted unbound and its sandbox carries no session identity until a claim.
   */
  scope?: SessionScope;
  /** berth's own endpoints, which the session's egress proxy must never reach. */
  ownEndpoints(): { host: string; port: number }[];
  /** Right before the sandbox starts (the workspace re-checked, its protected paths recorded); throws to stop. */
  beforeSandbox(): Promise<void>;
  onUpdate(acpSessionId: string, update: SessionUpdate): void;
  onPermission(req: RequestPermissionRequest, signal: AbortSignal): Promise<RequestPermissionResponse>;
  onExit(code: number | null, signal: string | null): void;
}

/** A step of a session's start, timed (epoch ms): traced as a span and observed in a histogram. */
export interface StartPhase {
  /** claim: a pool hit's whole start; the others are a cold start's steps. */
  name: "claim" | "install" | "clone" | "sandbox_start" | "initialize" | "session_new" | "session_load";
  start: number;
  end: number;
}

/** What a completed launch reports: the agent's own description, for the ready event, and its phases. */
export interface Launched {
  agentInfo: unknown;
  phases: StartPhase[];
  /**
   * On a resume (or a fork): whether the harness restored the conversation itself (ACP
   * session/load) or berth rebuilt it, priming a new harness session from its own log.
   */
  context?: "restored" | "rebuilt";
}

/**
 * Launches a session's harness in its sandbox: the install check (and the cheap integrity
 * check alongside), the session home and its files, the gateway token, the egress proxy and
 * its environment, system files, the sandbox, and the ACP handshake (session/new, or
 * session/load on a resume). Returns undefined when the session was ended meanwhile;
 * throws on failure (whatever was started is on the target, for the owner's teardown).
 */
export class HarnessLauncher {
  constructor(private readonly deps: LaunchDeps) {}

  async launch(live: LaunchTarget, row: SessionRecord, resume: boolean, dir: string, hooks: LaunchHooks): Promise<Launched | undefined> {
    const { spec, driver } = live;
    const phases: StartPhase[] = [];
    await driver.check();
    const harnessDir = await timed(phases, "install", () => this.deps.installer.ensure(spec, hooks.status));
    // The cheap integrity check runs alongside the rest of the boot; the harness starts only once it passed.
    const intact = this.deps.installer.verify(spec);
    intact.catch(() => {});
    const home = join(dir, "home");
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    chmodSync(dir, 0o711);
    if (!existsSync(home)) mkdirForAgent(home, 0o700);
    const layout = driver.layout({ workspace: row.workspace, home, harnessDir });
    const token = hooks.scope ? this.deps.gateway.mint(live.id, hooks.scope) : this.deps.gateway.mintUnbound(live.id);
    const plan = spec.launch({
      layout,
      // The name the upstream knows (after the provider's aliases).
      model: live.route.model,
      gatewayUrl: this.deps.gateway.baseUrl(spec.api),
      tokenEnv: "BERTH_GATEWAY_TOKEN",
      token,
      systemPrompt: row.settings.systemPrompt,
    });
    // On a resume the home is the agent's: written without following anything it left there.
    for (const f of plan.homeFiles) writeAgentFile(home, f.path, f.content, f.mode ?? 0o600);
    if (live.ending) return undefined;
    // Every tier but host gets no network of its own: the gateway's unix socket, exposed
    // inside on the gateway's own port so the URL above holds there too.
    let net: SandboxNet | undefined;
    // BERTH_GATEWAY_URL: where git-credential-berth asks for git credentials.
    const env: Record<string, string> = {
      ...plan.env,
      BERTH_GATEWAY_TOKEN: token,
      BERTH_GATEWAY_URL: this.deps.gateway.url,
      ...(hooks.scope ? { BERTH_SESSION_ID: live.id } : { BERTH_POOL_ENTRY: live.id }),
    };
    if (row.tier !== "host" && this.deps.gateway.socketPath) {
      // Everything else leaves through the session's egress proxy and its allowlist. T4
      // shares the host's network (and loopback): its proxy is a loopback port of its own,
      // as a fixed relayed port would collide between concurrent T4 sessions.
      const hostNet = row.tier === "host-access";
      const egress = new EgressProxy({
        ...(hostNet ? {} : { socketPath: join(dir, "egress.sock") }),
        policy: { allow: row.settings.egressAllow ?? [], allowPrivateAddresses: row.settings.egressAllowPrivate ?? false },
        ownEndpoints: hooks.ownEndpoints,
        onDecision: (dec) => {
          this.deps.metrics?.recordEgress(dec.allowed);
          this.deps.logger.info({ sessionId: live.id, egress: dec }, dec.allowed ? "egress allowed" : "egress refused");
        },
      });
      await egress.start();
      live.egress = egress;
      net = {
        forwards: [
          { port: this.deps.gateway.port, socket: this.deps.gateway.socketPath },
          ...(hostNet ? [] : [{ port: EGRESS_PROXY_PORT, socket: egress.address }]),
        ],
        relayScript: writeRelay(dir),
      };
      const proxy = hostNet ? `http://${egress.address}` : `http://127.0.0.1:${EGRESS_PROXY_PORT}`;
      Object.assign(env, { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, https_proxy: proxy, http_proxy: proxy, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" });
    }
    const files = [...(plan.systemFiles ?? []), ...gitCredentialSandboxFiles(layout.node)].map((f, i) => {
      const hostPath = join(dir, `system-${i}`);
      writeFileSync(hostPath, f.content, { mode: 0o644 });
      return { path: f.path, hostPath };
    });
    // The session's skills (sessions/skills.ts): read-only where the harness reads its user's skills.
    const skills = join(dir, "skills");
    if (spec.skillsDir && existsSync(skills)) {
      if (row.tier === "host") cpSync(skills, join(home, spec.skillsDir), { recursive: true, verbatimSymlinks: true });
      else {
        // The mount point, made by berth as the agent's: an engine would make it root's, in the agent's HOME.
        mkdirsForAgent(home, spec.skillsDir);
        files.push({ path: `${layout.home}/${spec.skillsDir}`, hostPath: skills });
      }
    }
    await intact;
    // The CPU-heavy part (sandbox, harness start, handshake) runs in a bounded number of
    // start slots: a burst of sessions queues here instead of every start slowing every
    // other one past its handshake timeouts.
    const start = () => this.startInSandbox(live, row, resume, hooks, { layout, home, harnessDir, plan, env, net, files, phases });
    const slots = this.deps.startSlots;
    if (!slots) return start();
    if (slots.activeCount >= slots.concurrency) hooks.status(`waiting for a start slot (${slots.pendingCount + 1} waiting, ${slots.concurrency} starting)`);
    return slots(() => (live.ending ? undefined : start()));
  }

  private async startInSandbox(
    live: LaunchTarget,
    row: SessionRecord,
    resume: boolean,
    hooks: LaunchHooks,
    p: { layout: SandboxLayout; home: string; harnessDir: string; plan: LaunchPlan; env: Record<string, string>; net: SandboxNet | undefined; files: { path: string; hostPath: string }[]; phases: StartPhase[] },
  ): Promise<Launched> {
    const { driver } = live;
    const { layout, harnessDir, plan, env, net, files, phases } = p;
    const writable = new Set(row.settings.writablePaths ?? []);
    // The sandbox as the session has it: the harness's, and a git seed's clone before it.
    const sandbox: Omit<SandboxSpec, "command"> = {
      net,
      protect: PROTECTED_WORKSPACE_PATHS.filter((p) => !writable.has(p)),
      files,
      sessionId: live.id,
      tier: row.tier as Tier,
      workspace: row.workspace,
      home: p.home,
      harnessDir,
      env,
    };
    const seed = row.settings.seed;
    if (seed && "git" in seed && readdirSync(row.workspace).length === 0)
      await timed(phases, "clone", () => this.cloneInSandbox(live, sandbox, seed.git, layout.workspace, hooks));
    if (live.ending) throw new BerthError(409, "session_ending", "the session was ended while its workspace was cloned");
    await hooks.beforeSandbox();
    let proc: SandboxProcess;
    const started = Date.now();
    try {
      proc = await driver.start({ ...sandbox, command: plan.command, ...(hooks.scope ? {} : { background: true }) });
    } catch (e) {
      this.deps.metrics?.recordSandboxStart(row.tier, driver.name, "error", (Date.now() - started) / 1000);
      this.deps.logger.warn({ sessionId: live.id, tier: row.tier, driver: driver.name, err: (e as Error).message }, "sandbox start failed");
      throw e;
    }
    this.deps.metrics?.recordSandboxStart(row.tier, driver.name, "ok", (Date.now() - started) / 1000);
    this.deps.logger.info({ sessionId: live.id, tier: row.tier, driver: driver.name, sandbox: proc.id, ms: Date.now() - started }, "sandbox started");
    phases.push({ name: "sandbox_start", start: started, end: Date.now() });
    live.proc = proc;
    live.sandboxRowId = proc.id;
    await this.recordSandbox(live, proc);
    // Loaded at the first session, not at server start (the ACP SDK takes ~0.1 s to load).
    const { AcpAgentConnection } = await import("../acp/agent-connection.js");
    const agent = new AcpAgentConnection(proc, {
      onUpdate: hooks.onUpdate,
      onPermission: hooks.onPermission,
    });
    live.agent = agent;
    void proc.exited.then((x) => hooks.onExit(x.code, x.signal));
    const init = await timed(phases, "initialize", () => withTimeout(agent.initialize(), 60_000, "ACP initialize"));
    const mcp = row.settings.mcpServers as McpServer[];
    // A resume is a ladder: the harness's own session/load, else a new session that berth
    // primes with the conversation from its log (context "rebuilt"): never silently forgotten.
    // A fork whose history was copied into its HOME climbs the same ladder, from ACP
    // session/fork where the harness has it.
    const forking = !resume && row.settings.seed !== undefined && "fork" in row.settings.seed && row.acpSessionId !== null;
    let context: Launched["context"];
    const caps = init.agentCapabilities as (typeof init.agentCapabilities & { sessionCapabilities?: { fork?: unknown } }) | undefined;
    if (forking && caps?.sessionCapabilities?.fork) {
      try {
        const id = await timed(phases, "session_new", () => withTimeout(agent.forkSession(row.acpSessionId!, layout.workspace, mcp), 60_000, "ACP session/fork"));
        live.acpSessionId = id;
        await this.deps.store.setAcpSessionId(live.id, id);
        this.deps.logger.info({ sessionId: live.id, acpSessionId: id }, "forked with ACP session/fork");
        context = "restored";
      } catch (e) {
        if (proc.child.exitCode !== null || live.ending) throw e;
        this.deps.logger.warn({ sessionId: live.id, err: (e as Error).message }, "ACP session/fork failed; trying session/load of the copied history");
      }
    }
    if (!context && (resume || forking) && row.acpSessionId && init.agentCapabilities?.loadSession) {
      live.acpSessionId = row.acpSessionId;
      live.replaying = true;
      try {
        await timed(phases, "session_load", () => withTimeout(agent.loadSession(row.acpSessionId!, layout.workspace, mcp), 60_000, "ACP session/load"));
        context = "restored";
      } catch (e) {
        if (proc.child.exitCode !== null || live.ending) throw e;
        this.deps.logger.warn({ sessionId: live.id, err: (e as Error).message }, "ACP session/load failed; starting a new harness session with the conversation from berth's log");
        live.acpSessionId = undefined;
      } finally {
        live.replaying = false;
      }
    }
    if (!context) {
      const s = await timed(phases, "session_new", () => withTimeout(agent.newSession(layout.workspace, mcp), 60_000, "ACP session/new"));
      recordCapabilities(harnessDir, capabilitiesFrom(init, s));
      live.acpSessionId = s.sessionId;
      // A pooled entry has no session row yet: its claim records the ACP session.
      if (hooks.scope) await this.deps.store.setAcpSessionId(live.id, s.sessionId);
      if (resume || forking) context = "rebuilt";
    }
    return { agentInfo: init.agentInfo ?? null, phases, ...(context ? { context } : {}) };
  }

  /** The sandbox's row: what a restarted berth reaps if this one dies. */
  private async recordSandbox(live: LaunchTarget, proc: SandboxProcess): Promise<void> {
    await this.deps.store.insertSandbox({ id: proc.id, sessionId: live.id, driver: live.driver.name, pid: proc.pid, ref: proc.ref, startedAt: new Date().toISOString() });
  }

  /**
   * A git-seeded workspace is cloned in a sandbox of the session's own kind, before its
   * harness starts: as uid 1000, through the session's egress proxy, with the credential
   * helper asking berth's git credential service. Its output only reaches the session's
   * log through the redactor (an error event).
   */
  private async cloneInSandbox(live: LaunchTarget, sandbox: Omit<SandboxSpec, "command">, git: GitSeed, workspaceInside: string, hooks: LaunchHooks): Promise<void> {
    hooks.status(`cloning ${git.url}${git.ref ? ` at ${git.ref}` : ""} into the workspace`);
    const proc = await live.driver.start({
      ...sandbox,
      command: gitCloneCommand(git, workspaceInside),
      env: { ...sandbox.env, GIT_TERMINAL_PROMPT: "0", GIT_ALLOW_PROTOCOL: "http:https" },
    });
    // Attached to the session while it runs, so that ending the session stops it (and a crash reaps it).
    live.proc = proc;
    await this.recordSandbox(live, proc);
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    proc.stdout.resume();
    proc.stdin.end();
    const timer = setTimeout(() => void proc.kill(), CLONE_TIMEOUT_MS);
    const x = await proc.exited.finally(() => clearTimeout(timer));
    live.proc = undefined;
    await this.deps.store.deleteSandbox(proc.id);
    if (x.code !== 0 && !live.ending) {
      const why = stderr.trim().split("\n").slice(-3).join(" ").trim() || (x.signal ? `killed by ${x.signal}` : `exit ${x.code}`);
      throw new BerthError(502, "workspace_clone_failed", `git clone of ${git.url} failed: ${why}`);
    }
  }
}

/** How long a workspace's clone may take before it is stopped. */
const CLONE_TIMEOUT_MS = 10 * 60_000;

/** Runs a step of the start and records it as a phase. */
async function timed<T>(phases: StartPhase[], name: StartPhase["name"], f: () => Promise<T>): Promise<T> {
  const start = Date.now();
  const out = await f();
  phases.push({ name, start, end: Date.now() });
  return out;
}

/** A harness step that does not answer in time: 504 harness_timeout. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, () => new BerthError(504, "harness_timeout", `${what} did not answer within ${ms / 1000}s`));
}
