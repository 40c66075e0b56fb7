import { rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { BerthConfig } from "../config/config.js";
import type { EventLog } from "../events/log.js";
import type { NewEvent, SessionState } from "../events/types.js";
import type { ModelCallRecord, ModelGateway } from "../gateway/gateway.js";
import type { ProviderRegistry, ResolvedRoute } from "../providers/registry.js";
import type { HarnessInstaller } from "../harnesses/installer.js";
import { getHarness } from "../harnesses/registry.js";
import type { HarnessSpec } from "../harnesses/types.js";
import type { SandboxDrivers } from "../sandboxes/index.js";
import type { SandboxDriver, SandboxProcess } from "../sandboxes/types.js";
import type { Redactor } from "../secrets/redact.js";
import { BerthError, conflict, notFound } from "../util/errors.js";
import { newId } from "../util/ids.js";
import type { Metrics } from "../telemetry/metrics.js";
import { noopTracing, type Tracing } from "../telemetry/tracing.js";
import { AgentUpdates } from "./agent-updates.js";
import { logLifecycle } from "./lifecycle-log.js";
import { deleteSessions } from "./retention.js";
import { WorkspaceSnapshots } from "./snapshots.js";
import { turnSnapshots } from "./turn-snapshots.js";
import { SessionBudget, type BudgetLimits } from "./budget.js";
import type { CreateSessionInput, ForkInput, PermissionAnswer, ResumeInput } from "./contract.js";
import { DEADLINE_STOP_REASONS } from "./deadlines.js";
import { HarnessLauncher, type StartPhase } from "./launch.js";
import { gatewayScope, modelCallEvents } from "./model-calls.js";
import { PermissionBroker } from "./permissions.js";
import { WarmPool, type PoolEntry } from "./pool.js";
import type { PoolSettings } from "./pool-config.js";
import { planSession } from "./session-plan.js";
import { StartPhases } from "./start-phases.js";
import type { SessionListQuery, SessionStore } from "./store.js";
import { TurnRunner, type LiveSession } from "./turn-runner.js";
import { LIVE_SESSION_STATES, SETTLED_SESSION_STATES, type SessionRecord, type TurnRecord } from "./types.js";
import { WorkspaceGuard } from "./workspace-guard.js";
import { rebuiltConversation, type LoggedEvent } from "./rebuilt-context.js";
import { forkPoint, forkRequest, prepareFork } from "./fork.js";
import { materializeSkills } from "./skills.js";
import { workspacePolicy, type WorkspacePolicy } from "./workspace.js";
import type { SessionCluster } from "./cluster.js";

/** What a session's view shows beside its record (sessions/views.ts). */
export interface SessionViewTallies {
  lastSeq: number;
  turns: number;
  spent: { tokens: number; costUsd: number };
  waitingForPermission: number;
}

export interface PostTurnInput {
  prompt: string | unknown[];
  idempotencyKey?: string;
  /** W3C trace context of the request that posted the turn: the turn's span continues that trace. */
  traceparent?: string;
  tracestate?: string;
}





/** How long an upload-seeded session waits for its archive before it fails. */
const UPLOAD_WAIT_MS = 10 * 60_000;

export interface SessionManagerDeps {
  config: BerthConfig;
  /** Where caller-named workspaces may be (default: from config). */
  workspaces?: WorkspacePolicy;
  store: SessionStore;
  events: EventLog;
  installer: HarnessInstaller;
  drivers: SandboxDrivers;
  gateway: ModelGateway;
  redactor: Redactor;
  logger: Logger;
  defaultModel: string;
  /** The provider registry, as seen from a workspace (its own layer, when the server allows it). */
  providers: (workspace?: string) => ProviderRegistry;
  tracing?: Tracing;
  metrics?: Metrics;
  /** berth's own listening endpoints (API, gateway, mock): no session's egress proxy reaches them. */
  ownEndpoints?: () => { host: string; port: number }[];
  /** Warm pools (sessions/pool.ts); checked here, filled by startPools(). */
  pools?: PoolSettings;
  /** Told the number of live sessions whenever it changes (util/idle-gc.ts). */
  liveCount?: (n: number) => void;
}

/** The session calls that run on the node that owns the session (cluster/node.ts carries them there). */
type OwnerCall =
  | { kind: "postTurn"; input: PostTurnInput }
  | { kind: "cancel" }
  | { kind: "answerPermission"; permissionId: string; answer: PermissionAnswer }
  | { kind: "end" }
  | { kind: "seeded"; by: "upload" | "fork" }
  | { kind: "fork"; input: ForkInput };

/**
 * Sessions and turns: create → install harness → start sandbox → ACP initialize +
 * session/new → ready; turns run one at a time in the order posted; every state change
 * is an event in the durable log.
 */
export class SessionManager {
  private live = new Map<string, LiveSession>();

  private tracing: Tracing;

  private workspaces: WorkspaceGuard;
  private agentUpdates: AgentUpdates;
  private launcher: HarnessLauncher;
  private turnRunner: TurnRunner;
  readonly pool: WarmPool;
  /** Each turn's workspace at its start and end (off with BERTH_TURN_SNAPSHOTS=off). */
  readonly snapshots?: WorkspaceSnapshots;
  private startPhases: StartPhases;
  private cluster?: SessionCluster;

  constructor(private deps: SessionManagerDeps) {
    this.tracing = deps.tracing ?? noopTracing();
    if (deps.config.env.BERTH_TURN_SNAPSHOTS !== false) this.snapshots = new WorkspaceSnapshots(join(deps.config.home, "snapshots"));
    // Sandbox starts at once: enough to keep every CPU busy, few enough that a burst queues
    // (and each start finishes within its handshake timeouts) instead of all slowing together.
    const starts = deps.config.env.BERTH_MAX_CONCURRENT_STARTS ?? 2 * availableParallelism();
    this.launcher = new HarnessLauncher({ ...deps, ...(starts > 0 ? { startSlots: pLimit(starts) } : {}) });
    this.turnRunner = new TurnRunner({
      store: deps.store,
      emit: (id, ev) => this.emit(id, ev),
      setState: (id, state) => this.setState(id, state),
      fail: (live, code, message) => this.fail(live, code, message),
      tracing: this.tracing,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      serverDeadlines: deps.config.turnDeadlines,
      ...(this.snapshots ? { snapshots: turnSnapshots({ snapshots: this.snapshots, store: deps.store, emit: (id, ev) => this.emit(id, ev), logger: deps.logger }) } : {}),
    });
    const c = deps.config;
    this.workspaces = new WorkspaceGuard({
      store: deps.store,
      policy: deps.workspaces ?? workspacePolicy({ roots: c.workspaceRoots, exact: c.exactWorkspaces, home: c.home, harnessCache: c.harnessCache }),
      home: c.home,
      logger: deps.logger,
      emit: (id, ev) => this.emit(id, ev),
    });
    this.agentUpdates = new AgentUpdates((id, ev) => this.emit(id, ev));
    this.startPhases = new StartPhases({ tracing: this.tracing, ...(deps.metrics ? { metrics: deps.metrics } : {}) });
    this.pool = new WarmPool({
      settings: deps.pools ?? { pools: [], refillConcurrency: 1, refillDelayMs: 0 },
      home: c.home,
      launcher: this.launcher,
      gateway: deps.gateway,
      store: deps.store,
      drivers: deps.drivers,
      providers: deps.providers(),
      snapshot: (row, dir) => this.workspaces.snapshot(row, dir),
      ownEndpoints: () => this.ownEndpoints(),
      logger: deps.logger,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    });
  }

  /** Makes this manager one node of several on a shared database (app.ts, before recovery). */
  attachCluster(cluster: SessionCluster): void {
    this.cluster = cluster;
  }

  /**
   * A call for a session another live node owns runs there (cluster/node.ts), and its answer
   * (or error) is this call's; `here` runs it on this node, which runs the session, or no live
   * node does.
   */
  private async atOwner<T>(id: string, call: OwnerCall, here: () => Promise<T>): Promise<T> {
    const node = this.cluster && !this.live.has(id) ? await this.cluster.remoteOwner(id) : undefined;
    return node ? this.cluster!.call<T>(node, id, call.kind, call) : here();
  }

  /** Runs a call another node sent for a session this node owns (never forwarded again). */
  async execute(kind: string, id: string, args: unknown): Promise<unknown> {
    const call = args as OwnerCall;
    if (call?.kind !== kind) throw new BerthError(400, "invalid_command", `command ${kind} carries no matching arguments`);
    switch (call.kind) {
      case "postTurn":
        return this.postTurnHere(id, call.input);
      case "cancel":
        return this.cancelHere(id);
      case "answerPermission":
        return this.answerPermissionHere(id, call.permissionId, call.answer);
      case "end":
        return this.endHere(id);
      case "seeded":
        return this.seededHere(id, call.by);
      case "fork":
        return this.forkHere(id, call.input);
    }
  }

  /** Sessions this node took over from a node whose lease expired: their harness is gone with it. */
  async adoptOrphaned(rows: SessionRecord[]): Promise<void> {
    for (const s of rows) {
      await this.deps.events.forget(s.id);
      await this.interruptStale(s, "the berth node that ran this session stopped renewing its lease (it died or lost the database); resume it on any node");
    }
  }

  /**
   * This node's lease had expired, so other nodes may have taken over its sessions: whichever
   * it no longer owns it stops here, without writing their state (it is the new owner's now).
   */
  async fence(all = false): Promise<void> {
    const cluster = this.cluster;
    if (!cluster) return;
    for (const live of [...this.live.values()]) {
      const owner = all ? undefined : await cluster.ownerOf(live.id);
      if (owner?.node === cluster.nodeId) continue;
      this.deps.logger.warn({ sessionId: live.id, owner: owner?.node }, "stopping a session another node took over");
      live.ending = true;
      await this.teardown(live);
      await this.deps.events.forget(live.id);
    }
  }

  /** Starts filling the warm pools (after recovery, so a refill never races the reaping). */
  startPools(): void {
    this.pool.start();
  }

  // --- lifecycle -------------------------------------------------------------

  /**
   * After a restart: whatever was live under the previous process is interrupted. Its
   * sandboxes are reaped; its events stay.
   */
  async recover(): Promise<number> {
    for (const sb of await this.deps.store.listSandboxes()) {
      await this.deps.drivers.byDriverName(sb.driver)?.reap(sb.pid, sb.ref);
      await this.deps.store.deleteSandbox(sb.id);
    }
    // On a shared database, only the sessions this node ran (other nodes' are theirs).
    const stale = this.cluster ? await this.cluster.ownedSessions(LIVE_SESSION_STATES) : await this.deps.store.sessionsInStates(LIVE_SESSION_STATES);
    for (const s of stale) await this.interruptStale(s, "berth stopped while the session was live; its sandbox was reaped");
    return stale.length;
  }

  /** A session whose harness is gone without berth ending it: its turns and the session become interrupted (resumable). */
  private async interruptStale(s: SessionRecord, reason: string): Promise<void> {
    // Its sandbox is gone: what it left in the workspace's protected paths is judged now.
    await this.workspaces.neutralize(s.id, this.sessionDir(s.id));
    for (const t of await this.deps.store.turnsInStates(s.id, ["running", "queued"])) {
      await this.deps.store.endTurn(t.id, "interrupted", t.state === "running" ? "interrupted" : null);
      if (t.state === "running") this.emit(s.id, { type: "turn.ended", turnId: t.id, data: { stopReason: "interrupted" } });
    }
    await this.setState(s.id, "interrupted", reason);
  }

  /** Graceful stop: live sessions become interrupted (resumable), sandboxes are killed. */
  async shutdown(): Promise<void> {
    await this.pool.shutdown();
    await Promise.all(
      [...this.live.values()].map(async (l) => {
        l.ending = true;
        if (l.running) await this.turnRunner.finish(l, l.running, "interrupted", "interrupted");
        for (const t of l.queue) await this.deps.store.endTurn(t, "interrupted", null);
        await this.setState(l.id, "interrupted", "berth shut down");
        await this.teardown(l);
      }),
    );
  }

  async create(input: CreateSessionInput, fork?: { sessionId: string; turnId?: string }): Promise<SessionRecord> {
    const asked = Date.now();
    const operatorSkills = this.deps.config.env.BERTH_SKILLS_DIR;
    const { record, spec, driver, route } = await planSession(input, { ...this.deps, workspaces: this.workspaces, ...(operatorSkills ? { skillsDir: operatorSkills } : {}) });
    const { settings } = record;
    if (fork) settings.seed = { fork };
    materializeSkills(input.skills, join(this.sessionDir(record.id), "skills"), operatorSkills);
    const claim = this.pool.claim({
      harness: spec.id,
      tier: record.tier,
      upstreamModel: route.model,
      // A pooled entry's workspace is empty and fresh: a caller's directory or a seeded one is a cold start.
      callerWorkspace: !record.ownsWorkspace || settings.seed !== undefined,
      ...(settings.systemPrompt ? { systemPrompt: settings.systemPrompt } : {}),
      mcpServers: settings.mcpServers,
      writablePaths: settings.writablePaths ?? [],
      skills: (settings.skills?.length ?? 0) > 0,
    });
    let entry = "entry" in claim ? claim.entry : undefined;
    if (entry && !this.pool.handOver(entry, record.workspace, this.sessionDir(record.id))) {
      settings.pool = { outcome: "miss", reason: "entry_failed", pool: entry.pool };
      entry = undefined;
    } else if (entry) settings.pool = { outcome: "hit", pool: entry.pool };
    else if ("miss" in claim && claim.miss !== "no_pool") settings.pool = { outcome: "miss", reason: claim.miss, ...(claim.pool ? { pool: claim.pool } : {}) };
    await this.deps.store.insertSession(record);
    this.deps.events.begin(record.id);
    this.emit(record.id, {
      type: "session.status",
      data: {
        state: "starting",
        harness: spec.id,
        model: record.model,
        provider: route.provider,
        providerSource: route.source,
        tier: record.tier,
        ...(settings.pool ? { pool: settings.pool } : {}),
        ...(fork ? { forkedFrom: fork } : {}),
      },
    });
    const live = await this.newLive(record.id, spec, driver, route, settings.budget);
    if (entry) {
      await this.adopt(live, record, entry, asked);
      return this.get(record.id);
    }
    if (settings.seed && ("upload" in settings.seed || "fork" in settings.seed)) {
      // The harness starts once the archive is in (the files API, or fork(), calls seeded()), or the session fails.
      const timer = setTimeout(() => void this.fail(live, "workspace_upload_timeout", `no workspace archive arrived within ${UPLOAD_WAIT_MS / 60_000} minutes`), UPLOAD_WAIT_MS);
      timer.unref();
      live.awaitingSeed = () => {
        clearTimeout(timer);
        void this.boot(live, record, false, asked);
      };
      if (!fork) this.emit(record.id, { type: "session.status", data: { state: "starting", detail: `waiting for the workspace archive: PUT /v1/sessions/${record.id}/files/archive` } });
      return record;
    }
    // After the response: the launch's first steps are synchronous file work that would hold it.
    setImmediate(() => void this.boot(live, record, false, asked));
    return record;
  }

  /**
   * A new session like `id` (harness, model, tier, settings; not its secrets), whose workspace
   * is a copy of `id`'s as of a turn's end (default: its last ended turn; with none, as it is
   * now) and whose harness is primed with the conversation up to that turn. Its first event
   * names the session it was forked from; its ready event says the context was rebuilt.
   */
  fork(id: string, input: ForkInput = {}): Promise<SessionRecord> {
    // The source's owner forks it (it knows the source's tokens to scrub from the copy, and whether a turn runs).
    return this.atOwner(id, { kind: "fork", input }, () => this.forkHere(id, input));
  }

  private async forkHere(id: string, input: ForkInput): Promise<SessionRecord> {
    const src = await this.get(id);
    const snaps = this.snapshots;
    if (!snaps) throw conflict("no_snapshot", "forking needs the workspace snapshots, and BERTH_TURN_SNAPSHOTS is off on this server");
    const turns = await this.deps.store.listTurns(id);
    const at = forkPoint(id, turns, input.atTurn);
    let ref: string;
    if (at) {
      ref = `turns/${at.id}/end`;
      if (!(await snaps.has(id, ref))) throw conflict("no_snapshot", `turn ${at.id} has no workspace snapshot (it never started, or snapshots were off then)`);
    } else {
      // No turn has ended: the workspace as it is now, which no agent is editing.
      if (src.state === "ended") throw conflict("session_ended", `session ${id} has ended and ran no turn: there is nothing to fork`);
      if (this.live.get(id)?.running) throw conflict("turn_running", `session ${id} is running a turn; fork once it has ended`);
      ref = `forks/${Date.now()}`;
      await snaps.take(id, src.workspace, ref);
    }
    const record = await this.create(forkRequest(src, input), { sessionId: id, ...(at ? { turnId: at.id } : {}) });
    const live = this.live.get(record.id)!;
    // At the source's last turn, its harness's own history is the conversation up to the
    // fork: copied into the fork's HOME, its harness forks (ACP session/fork) or loads it.
    // At an earlier turn, or if that fails, berth rebuilds the conversation from its log.
    const native = at !== undefined && turns.at(-1)?.id === at.id && src.acpSessionId !== null;
    void (async () => {
      try {
        const restored = await prepareFork({
          snapshots: snaps,
          source: { id, dir: this.sessionDir(id), tokens: this.deps.gateway.tokensOf(id) },
          fork: { workspace: record.workspace, dir: this.sessionDir(record.id) },
          ref,
          nativeHistory: native,
          tmpDir: join(this.deps.config.home, "tmp"),
        });
        live.forkPrime = await this.conversation(id, at ? turns.filter((t) => t.idx <= at.idx) : [], `this session was forked from session ${id}${at ? ` after its turn ${at.idx + 1}` : ""}`);
        if (restored) {
          record.acpSessionId = src.acpSessionId;
          await this.deps.store.setAcpSessionId(record.id, src.acpSessionId!);
        } else {
          live.primeWith = live.forkPrime;
          live.contextOnReady = "rebuilt";
        }
        await this.seededHere(record.id, "fork");
      } catch (e) {
        await this.fail(live, "fork_failed", `could not copy the workspace of session ${id}: ${(e as Error).message}`);
      }
    })();
    return record;
  }

  /** The session's earlier conversation from its log, to prime a harness that could not restore it. */
  private async conversation(id: string, turns?: TurnRecord[], intro?: string): Promise<string | undefined> {
    const events: LoggedEvent[] = [];
    for (let after = 0; ; ) {
      const page = await this.deps.events.read(id, after, 5000);
      if (page.length === 0) break;
      for (const e of page) events.push(JSON.parse(e.json) as LoggedEvent);
      after = page[page.length - 1]!.seq;
    }
    return rebuiltConversation(turns ?? (await this.deps.store.listTurns(id)), events, undefined, intro);
  }

  /** An upload-seeded (or forked) session's workspace is in place: its harness starts now. */
  seeded(id: string, by: "upload" | "fork"): Promise<void> {
    return this.atOwner(id, { kind: "seeded", by }, () => this.seededHere(id, by));
  }

  private async seededHere(id: string, by: "upload" | "fork"): Promise<void> {
    const live = this.live.get(id);
    const go = live?.awaitingSeed;
    const seed = (await this.deps.store.getSession(id))?.settings.seed;
    if (!live || !go || live.ending || !seed || !(by in seed)) return;
    live.awaitingSeed = undefined;
    go();
  }

  /** Whether a session still waits for its workspace archive. */
  awaitingSeed(id: string): boolean {
    return this.live.get(id)?.awaitingSeed !== undefined;
  }

  /**
   * A pool hit: the entry's sandbox, harness and ACP session become the session's. Its
   * directories take the session's names, its gateway token is bound to the session's route
   * and budget, its egress proxy gets the session's policy, and its events flow to the log.
   */
  private async adopt(live: LiveSession, record: SessionRecord, entry: PoolEntry, asked: number): Promise<void> {
    entry.proc?.foreground?.();
    Object.assign(live, { proc: entry.proc, agent: entry.agent, egress: entry.egress, sandboxRowId: entry.sandboxRowId, acpSessionId: entry.acpSessionId });
    await this.deps.store.assignSandbox(entry.sandboxRowId!, live.id);
    await this.deps.store.setAcpSessionId(live.id, entry.acpSessionId!);
    const { settings } = record;
    entry.egress?.setPolicy({ allow: settings.egressAllow ?? [], allowPrivateAddresses: settings.egressAllowPrivate ?? false });
    this.deps.gateway.bind(entry.id, live.id, gatewayScope(live, (id, ev) => this.emit(id, ev), (rec) => this.onModelCall(rec)));
    entry.handlers = {
      onUpdate: (_acpSessionId, u) => this.agentUpdates.update(live, u),
      onPermission: async (req, signal) => this.agentUpdates.permission(live, (await this.get(live.id)).settings, req, signal),
      onExit: (code, signal) => void this.onExit(live, code, signal),
    };
    for (const u of entry.early.splice(0)) this.agentUpdates.update(live, u);
    const claimed = Date.now();
    await this.started(live, record, [{ name: "claim", start: asked, end: claimed }], asked, "hit", entry.agentInfo);
  }

  /** The session is ready: its start's phases are observed and traced, and its turns may run. */
  private async started(
    live: LiveSession,
    record: SessionRecord,
    phases: StartPhase[],
    asked: number,
    pool: "hit" | "miss",
    agentInfo: unknown,
    resumed = false,
    context?: "restored" | "rebuilt",
  ): Promise<void> {
    this.startPhases.ready(live, record, phases, asked, pool);
    await this.setState(live.id, "ready", null, {
      agent: agentInfo,
      ...(resumed ? { resumed: true } : {}),
      ...(context ? { context } : {}),
      ...(record.settings.pool ? { pool: record.settings.pool.outcome } : {}),
    });
    void this.turnRunner.pump(live);
  }

  /** Restarts the harness of an interrupted or failed session and reattaches (ACP session/load) where it can. */
  async resume(id: string, input: ResumeInput = {}): Promise<SessionRecord> {
    const row = await this.get(id);
    if (row.state !== "interrupted" && row.state !== "failed")
      throw conflict("not_resumable", `session ${id} is ${row.state}; only interrupted or failed sessions resume`);
    // On a shared database the resuming node becomes the owner; of two resuming at once, one does.
    if (this.cluster && !(await this.cluster.claimSession(id, ["interrupted", "failed"])))
      throw conflict("not_resumable", `session ${id} is being resumed by another node`);
    const spec = getHarness(row.harness)!;
    const driver = this.deps.drivers.forTier(row.tier)!;
    if (!row.ownsWorkspace) await this.workspaces.assertFree(row.workspace, id);
    // Per-session secrets were never stored: a resume that needs them brings them again.
    const route = this.deps.providers(row.ownsWorkspace ? undefined : row.workspace).resolve(row.model, {
      api: spec.api,
      provider: row.settings.provider,
      secrets: new Map(Object.entries(input.secrets ?? {})),
    });
    await this.deps.events.forget(id);
    await this.setState(id, "starting");
    const live = await this.newLive(id, spec, driver, route, row.settings.budget);
    void this.boot(live, row, true, Date.now());
    return this.get(id);
  }

  private async newLive(id: string, spec: HarnessSpec, driver: SandboxDriver, route: ResolvedRoute, budget: BudgetLimits = {}): Promise<LiveSession> {
    const spent = Object.keys(budget).length ? (await this.deps.store.sessionTallies([id])).get(id)?.spent : undefined;
    const live: LiveSession = {
      id,
      spec,
      driver,
      route,
      forgetSecrets: (route.liveSecrets ?? []).map((v) => this.deps.redactor.add(v)),
      queue: [],
      ending: false,
      toolStatus: new Map(),
      traceContext: new Map(),
      // A resumed session's budget continues from what it already spent (a new one has spent nothing).
      budget: new SessionBudget(budget, spent, this.deps.config.gatewayMaxConcurrentCalls),
      permissions: new PermissionBroker((ev) => this.emit(id, Object.assign(ev, { turnId: live.running }))),
    };
    this.live.set(id, live);
    this.deps.liveCount?.(this.live.size);
    return live;
  }

  private async boot(live: LiveSession, row: SessionRecord, resume: boolean, asked: number): Promise<void> {
    if (live.ending) return;
    try {
      const launched = await this.launcher.launch(live, row, resume, this.sessionDir(live.id), {
        status: (detail) => this.emit(live.id, { type: "session.status", data: { state: "starting", detail } }),
        scope: gatewayScope(live, (id, ev) => this.emit(id, ev), (rec) => this.onModelCall(rec)),
        ownEndpoints: () => this.ownEndpoints(),
        beforeSandbox: async () => {
          // The path was checked at creation; whatever it leads to now is what gets bound.
          if (!row.ownsWorkspace) this.workspaces.recheck(row);
          await this.workspaces.snapshot(row, this.sessionDir(live.id));
        },
        onUpdate: (_acpSessionId, u) => this.agentUpdates.update(live, u),
        onPermission: async (req, signal) => this.agentUpdates.permission(live, (await this.get(live.id)).settings, req, signal),
        onExit: (code, signal) => void this.onExit(live, code, signal),
      });
      if (!launched) return;
      if (live.ending) return;
      if (launched.context === "rebuilt") live.primeWith = live.forkPrime ?? (await this.conversation(live.id));
      await this.started(live, row, launched.phases, asked, "miss", launched.agentInfo, resume, launched.context ?? live.contextOnReady);
    } catch (e) {
      if (live.ending) return;
      // A sandbox that died during start-up shows up here as a write to a dead pipe (EPIPE);
      // onExit reports it with what the sandbox said on its way out.
      if (live.proc && (await Promise.race([live.proc.exited, new Promise<null>((r) => setTimeout(() => r(null), 1000))]))) return;
      if (live.ending) return;
      const err = e instanceof BerthError ? e : new BerthError(500, (e as { code?: string } | undefined)?.code ?? "session_start_failed", String((e as Error)?.message ?? e));
      const stderr = live.agent?.stderr.trim();
      await this.fail(live, err.code, err.message + (stderr ? ` (harness stderr: ${stderr.slice(-800)})` : ""));
    }
  }

  private async fail(live: LiveSession, code: string, message: string): Promise<void> {
    this.emit(live.id, { type: "session.error", turnId: live.running, data: { code, message } });
    live.ending = true;
    if (live.running) await this.turnRunner.finish(live, live.running, "failed", live.deadlinePassed ? DEADLINE_STOP_REASONS[live.deadlinePassed] : "error", message);
    for (const t of live.queue) await this.deps.store.endTurn(t, "failed", null);
    live.queue = [];
    await this.setState(live.id, "failed", message);
    await this.teardown(live);
    await this.deps.events.forget(live.id);
  }

  private async onExit(live: LiveSession, code: number | null, signal: string | null): Promise<void> {
    this.deps.logger.info({ sessionId: live.id, code, signal, expected: live.ending }, "sandbox exited");
    if (live.ending) return;
    // The exit can come before the last of stderr has been read.
    const stderrEnd = live.proc?.stderr.readableEnded ? undefined : live.proc && new Promise((r) => live.proc!.stderr.once("end", r));
    await Promise.race([stderrEnd, new Promise((r) => setTimeout(r, 500))]);
    if (live.ending) return;
    const stderr = live.agent?.stderr.trim();
    const starting = !live.acpSessionId;
    await this.fail(
      live,
      starting ? "sandbox_start_failed" : "harness_exited",
      `${starting ? "the sandbox exited during start-up" : "the harness process exited unexpectedly"} (code ${code}, signal ${signal})${stderr ? `: ${stderr.slice(-800)}` : ""}`,
    );
  }

  /** Ends a session: its process tree is gone when this resolves. The record and events stay. */
  end(id: string): Promise<SessionRecord> {
    return this.atOwner(id, { kind: "end" }, () => this.endHere(id));
  }

  /**
   * Ends a session, then deletes it: record, turns, events, home and snapshots (and the
   * workspace berth made). Its id is unknown afterwards. Idempotent as far as it can be: a
   * second purge is a 404, like any unknown id.
   */
  async purge(id: string): Promise<void> {
    await this.end(id);
    // Anything this node numbered for it goes first, so no late batch recreates its log.
    await this.deps.events.flush();
    const gone = await deleteSessions(
      { ...this.deps, home: this.deps.config.home },
      { ids: [id], states: SETTLED_SESSION_STATES, updatedBefore: "9999-12-31T23:59:59.999Z", limit: 1, keep: [...this.live.keys()] },
    );
    if (gone.length === 0) throw conflict("session_busy", `session ${id} was resumed or changed while it was being deleted; try again`);
  }

  private async endHere(id: string): Promise<SessionRecord> {
    const row = await this.get(id);
    const live = this.live.get(id);
    if (live) {
      live.ending = true;
      if (live.running) await this.turnRunner.finish(live, live.running, "cancelled", "cancelled");
      for (const t of live.queue) await this.deps.store.endTurn(t, "cancelled", null);
      await this.teardown(live);
    }
    if (row.state !== "ended") await this.setState(id, "ended");
    rmSync(this.sessionDir(id), { recursive: true, force: true });
    if (row.ownsWorkspace) rmSync(row.workspace, { recursive: true, force: true });
    await this.deps.events.forget(id);
    return this.get(id);
  }

  private async teardown(live: LiveSession): Promise<void> {
    live.permissions.cancelAll();
    this.turnRunner.stopDeadlines(live);
    this.deps.gateway.revoke(live.id);
    live.agent?.close();
    await live.proc?.kill();
    await this.workspaces.neutralize(live.id, this.sessionDir(live.id));
    await live.egress?.close();
    for (const f of live.forgetSecrets) f();
    // A row left behind (the database out of reach) is reaped at this node's next start.
    if (live.sandboxRowId) await this.deps.store.deleteSandbox(live.sandboxRowId).catch((e: Error) => this.deps.logger.warn({ sessionId: live.id, err: e.message }, "could not delete the sandbox's row"));
    this.live.delete(live.id);
    this.deps.liveCount?.(this.live.size);
  }

  // --- turns -----------------------------------------------------------------

  postTurn(id: string, input: PostTurnInput): Promise<{ turn: TurnRecord; created: boolean }> {
    return this.atOwner(id, { kind: "postTurn", input }, () => this.postTurnHere(id, input));
  }

  private async postTurnHere(id: string, input: PostTurnInput): Promise<{ turn: TurnRecord; created: boolean }> {
    const row = await this.get(id);
    const prompt = typeof input.prompt === "string" ? [{ type: "text", text: input.prompt }] : input.prompt;
    const live = this.live.get(id);
    if (!live || live.ending) {
      // A retried POST for a turn that already exists is still answered, whatever the state.
      if (input.idempotencyKey) {
        const found = (await this.deps.store.listTurns(id)).find((t) => t.idempotencyKey === input.idempotencyKey);
        if (found) return { turn: found, created: false };
      }
      const state = live?.ending ? "ending" : row.state;
      throw conflict("session_not_live", `session ${id} is ${state}; ${state === "interrupted" || state === "failed" ? "POST .../resume first" : "create a new session"}`);
    }
    const over = live.budget.exceeded();
    if (over) throw conflict("budget_exceeded", over.message);
    const { turn, created } = await this.deps.store.insertTurn({
      id: newId("turn"),
      sessionId: id,
      state: "queued",
      prompt,
      idempotencyKey: input.idempotencyKey ?? null,
      createdAt: new Date().toISOString(),
    });
    if (created) {
      if (input.traceparent) live.traceContext.set(turn.id, { traceparent: input.traceparent, tracestate: input.tracestate });
      live.queue.push(turn.id);
      this.emit(id, { type: "turn.queued", turnId: turn.id, data: { idx: turn.idx, position: live.queue.length - 1 + (live.running ? 1 : 0) } });
      void this.turnRunner.pump(live);
    }
    return { turn, created };
  }

  /** Cancels the running turn (ACP session/cancel); queued turns stay queued. */
  cancel(id: string): Promise<{ turnId: string }> {
    return this.atOwner(id, { kind: "cancel" }, () => this.cancelHere(id));
  }

  private async cancelHere(id: string): Promise<{ turnId: string }> {
    await this.get(id);
    const live = this.live.get(id);
    if (!live?.running || !live.agent || !live.acpSessionId)
      throw conflict("no_running_turn", `session ${id} has no running turn to cancel`);
    // ACP: the client answers pending permission requests with "cancelled" when it cancels.
    live.permissions.cancelAll();
    // A turn between turn.started and its prompt (the start snapshot) is not sent at all.
    live.cancelRequested = live.running;
    await live.agent.cancel(live.acpSessionId);
    return { turnId: live.running };
  }

  answerPermission(id: string, permissionId: string, answer: PermissionAnswer): Promise<{ permissionId: string; optionId: string | null }> {
    return this.atOwner(id, { kind: "answerPermission", permissionId, answer }, () => this.answerPermissionHere(id, permissionId, answer));
  }

  private async answerPermissionHere(id: string, permissionId: string, answer: PermissionAnswer): Promise<{ permissionId: string; optionId: string | null }> {
    await this.get(id);
    const live = this.live.get(id);
    if (!live) throw notFound("permission_not_found", `no pending permission ${permissionId} in session ${id}`);
    return live.permissions.answer(permissionId, answer);
  }

  /**
   * What the views of these sessions show beside their records, in one store read for all of
   * them (and one owner lookup on a shared database): a session live here counts from memory
   * (its log's numbering, its budget, its open permission requests); one live on another node
   * shows the requests its log leaves unanswered.
   */
  async tallies(records: readonly SessionRecord[]): Promise<Map<string, SessionViewTallies>> {
    if (records.length === 0) return new Map();
    const stored = await this.deps.store.sessionTallies(records.map((r) => r.id));
    // A session in no live state has no owner to ask about.
    const elsewhere = this.cluster ? await this.cluster.remotelyOwned(records.filter((r) => !this.live.has(r.id) && LIVE_SESSION_STATES.includes(r.state)).map((r) => r.id)) : new Set<string>();
    const out = new Map<string, SessionViewTallies>();
    for (const { id } of records) {
      const t = stored.get(id) ?? { lastSeq: 0, turns: 0, spent: { tokens: 0, costUsd: 0 }, pendingPermissions: 0 };
      const live = this.live.get(id);
      out.set(id, {
        lastSeq: this.deps.events.numbered(id) ?? t.lastSeq,
        turns: t.turns,
        spent: { ...(live?.budget.spent ?? t.spent) },
        waitingForPermission: live ? live.permissions.waiting : elsewhere.has(id) ? t.pendingPermissions : 0,
      });
    }
    return out;
  }

  /** Each model call of the session lands in its log under the running turn. */
  private onModelCall(rec: ModelCallRecord): void {
    const live = this.live.get(rec.sessionId);
    const record = () => {
      this.startPhases.modelCall(live, rec);
      for (const ev of modelCallEvents(rec, live?.running)) this.emit(rec.sessionId, ev);
    };
    if (live) return record();
    // A call that outlived its session's sandbox still counts (the budget reads it on resume), unless the session is gone.
    void this.deps.store.getSession(rec.sessionId).then((row) => row && record(), (e: Error) => this.deps.logger.warn({ err: e.message }, "model call not recorded"));
  }

  // --- queries -----------------------------------------------------------------

  async get(id: string): Promise<SessionRecord> {
    const row = await this.deps.store.getSession(id);
    if (!row) throw notFound("session_not_found", `no session ${id}`);
    return row;
  }

  /** What the files API needs of a session: its record, its sandbox while one runs, and the turn running now. */
  async workspaceOf(id: string): Promise<{ row: SessionRecord; driver?: SandboxDriver; proc?: SandboxProcess; runningTurn?: string }> {
    const row = await this.get(id);
    const live = this.live.get(id);
    // A turn running on another node is in the shared store.
    const runningTurn = live ? live.running : (await this.deps.store.turnsInStates(id, ["running"]))[0]?.id;
    return { row, ...(live?.proc ? { driver: live.driver, proc: live.proc } : {}), ...(runningTurn ? { runningTurn } : {}) };
  }

  list(q: SessionListQuery = {}): Promise<SessionRecord[]> {
    return this.deps.store.listSessions(q);
  }

  async turns(id: string): Promise<TurnRecord[]> {
    await this.get(id);
    return this.deps.store.listTurns(id);
  }

  liveCount(): number {
    return this.live.size;
  }

  /** The sessions live on this node. */
  liveIds(): IterableIterator<string> {
    return this.live.keys();
  }

  // --- helpers -------------------------------------------------------------------

  /**
   * What no session's egress proxy may reach: berth's own endpoints, and the loopback ports of
   * other sessions' proxies (T4's), whose allowlists are not this session's.
   */
  private ownEndpoints(): { host: string; port: number }[] {
    const proxies = [...this.live.values()].flatMap((l) => {
      const m = /^(.*):(\d+)$/.exec(l.egress?.address ?? "");
      return m ? [{ host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) }] : [];
    });
    return [...(this.deps.ownEndpoints?.() ?? []), ...proxies];
  }

  private sessionDir(id: string): string {
    return join(this.deps.config.home, "sessions", id);
  }

  private emit(id: string, ev: NewEvent): void {
    this.deps.events.append(id, ev);
    logLifecycle(this.deps.logger, id, ev);
    // Any event of the running turn is progress against its deadlines.
    if (ev.turnId) {
      const live = this.live.get(id);
      if (live?.running === ev.turnId) live.deadlines?.event();
    }
  }

  private async setState(id: string, state: SessionState, error: string | null = null, extra: Record<string, unknown> = {}): Promise<void> {
    const msg = error ? this.deps.redactor.redact(error) : null;
    await this.deps.store.setSessionState(id, state, msg);
    this.emit(id, { type: "session.status", data: { state, ...(msg ? { reason: msg } : {}), ...extra } });
  }
}
