import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { McpServer, RequestPermissionRequest, RequestPermissionResponse, SessionUpdate } from "@agentclientprotocol/sdk";
import { normalizeUpdate } from "../acp/normalize.js";
import type { BerthConfig } from "../config/config.js";
import type { EventLog } from "../events/log.js";
import type { NewEvent, SessionState } from "../events/types.js";
import { singleRoute, type ModelCallRecord, type ModelGateway, type SessionScope } from "../gateway/gateway.js";
import { parseGitHosts } from "../secrets/git-credentials.js";
import type { ProviderRegistry, ResolvedRoute } from "../providers/registry.js";
import type { HarnessInstaller } from "../harnesses/installer.js";
import { getHarness, HARNESSES } from "../harnesses/registry.js";
import type { HarnessSpec } from "../harnesses/types.js";
import type { SandboxDrivers } from "../sandboxes/index.js";
import { parsePolicy } from "../sandboxes/egress-proxy.js";
import { parseTier, type SandboxDriver, type Tier } from "../sandboxes/types.js";
import type { Redactor } from "../secrets/redact.js";
import type { SessionConfig, SessionRow, Store, TurnRow } from "../store/sqlite.js";
import { BerthError, badRequest, conflict, notFound } from "../util/errors.js";
import { newId } from "../util/ids.js";
import type { Metrics } from "../telemetry/metrics.js";
import { noopTracing, type Tracing } from "../telemetry/tracing.js";
import { admitCall } from "./admission.js";
import { SessionBudget, type BudgetLimits } from "./budget.js";
import { DEADLINE_STOP_REASONS, effectiveDeadlines, type DeadlineLimits } from "./deadlines.js";
import { agentIds, mkdirForAgent } from "../sandboxes/agent-owner.js";
import { neutralize, scanProtected, type ProtectedSnapshot } from "./protected-paths.js";
import { assertAgentWritable, resolveWorkspace, within, workspacePolicy, type WorkspacePolicy } from "./workspace.js";
import { HarnessLauncher } from "./launch.js";
import { TurnRunner, type Live } from "./turn-runner.js";
import { PermissionBroker, type PermissionAnswer, type PermissionPolicy } from "./permissions.js";

export interface CreateSessionInput {
  harness: string;
  model?: string;
  tier?: string;
  workspace?: string;
  systemPrompt?: string;
  mcpServers?: McpServer[];
  permissionPolicy?: PermissionPolicy;
  permissionTimeoutMs?: number;
  metadata?: Record<string, string>;
  writablePaths?: string[];
  network?: { allow?: string[]; allowPrivateAddresses?: boolean };
  /** Hosts the session may get git credentials for (docs/git-credentials.md). */
  git?: { hosts?: string[] };
  /** A provider id to use (required for explicit-only ones such as anthropic-oauth). */
  provider?: string;
  /** Per-session secrets by name (e.g. ANTHROPIC_API_KEY): memory only, never stored or echoed. */
  secrets?: Record<string, string>;
  budget?: BudgetLimits;
  /** Turn deadlines (ms); the server's values are the defaults and the ceilings. */
  deadlines?: DeadlineLimits;
}

export interface PostTurnInput {
  prompt: string | unknown[];
  idempotencyKey?: string;
  /** W3C trace context of the request that posted the turn: the turn's span continues that trace. */
  traceparent?: string;
  tracestate?: string;
}



const LIVE_STATES: SessionState[] = ["starting", "ready", "running"];


export interface SessionManagerDeps {
  config: BerthConfig;
  /** Where caller-named workspaces may be (default: from config). */
  workspaces?: WorkspacePolicy;
  store: Store;
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
}

/**
 * Sessions and turns: create → install harness → start sandbox → ACP initialize +
 * session/new → ready; turns run one at a time in the order posted; every state change
 * is an event in the durable log.
 */
export class SessionManager {
  private live = new Map<string, Live>();

  private tracing: Tracing;

  private workspaces: WorkspacePolicy;
  private launcher: HarnessLauncher;
  private turnRunner: TurnRunner;

  constructor(private d: SessionManagerDeps) {
    this.tracing = d.tracing ?? noopTracing();
    this.launcher = new HarnessLauncher(d);
    this.turnRunner = new TurnRunner({
      store: d.store,
      emit: (id, ev) => this.emit(id, ev),
      setState: (id, state) => this.setState(id, state),
      fail: (live, code, message) => this.fail(live, code, message),
      tracing: this.tracing,
      ...(d.metrics ? { metrics: d.metrics } : {}),
      serverDeadlines: d.config.turnDeadlines,
    });
    const c = d.config;
    this.workspaces = d.workspaces ?? workspacePolicy({ roots: c.workspaceRoots, exact: c.exactWorkspaces, home: c.home, harnessCache: c.harnessCache });
  }

  // --- lifecycle -------------------------------------------------------------

  /**
   * After a restart: whatever was live under the previous process is interrupted. Its
   * sandboxes are reaped; its events stay.
   */
  async recover(): Promise<number> {
    for (const sb of this.d.store.listSandboxes()) {
      await this.d.drivers.byDriverName(sb.driver)?.reap(sb.pid, sb.ref);
      this.d.store.deleteSandbox(sb.id);
    }
    const stale = this.d.store.sessionsInStates(LIVE_STATES);
    for (const s of stale) {
      // Its sandbox is gone: what it left in the workspace's protected paths is judged now.
      this.neutralizeWorkspace(s.id);
      for (const t of this.d.store.turnsInStates(s.id, ["running", "queued"])) {
        this.d.store.endTurn(t.id, "interrupted", t.state === "running" ? "interrupted" : null);
        if (t.state === "running") this.emit(s.id, { type: "turn.ended", turnId: t.id, data: { stopReason: "interrupted" } });
      }
      this.setState(s.id, "interrupted", "berth stopped while the session was live; its sandbox was reaped");
    }
    return stale.length;
  }

  /** Graceful stop: live sessions become interrupted (resumable), sandboxes are killed. */
  async shutdown(): Promise<void> {
    await Promise.all(
      [...this.live.values()].map(async (l) => {
        l.ending = true;
        if (l.running) this.turnRunner.finish(l, l.running, "interrupted", "interrupted");
        for (const t of l.queue) this.d.store.endTurn(t, "interrupted", null);
        this.setState(l.id, "interrupted", "berth shut down");
        await this.teardown(l);
      }),
    );
  }

  create(input: CreateSessionInput): SessionRow {
    const spec = getHarness(input.harness);
    if (!spec) throw badRequest("unknown_harness", `no harness '${input.harness}'; GET /v1/harnesses lists them`);
    const tierName = input.tier ?? this.d.config.defaultTier;
    const tier = parseTier(tierName);
    if (!tier) throw badRequest("invalid_tier", `unknown tier '${tierName}'; use host, process, container, privileged, host-access (or t0-t4)`);
    if (tier === "host" && !this.d.config.allowHostTier)
      throw new BerthError(403, "tier_not_allowed", "tier 'host' runs agents unsandboxed and is off; set BERTH_ALLOW_HOST_TIER=1 to allow it (development only)");
    // Every tier but host runs the agent as uid 1000; host runs it as berth's own user.
    if (spec.refusesRoot && tier === "host" && process.getuid?.() === 0)
      throw badRequest("harness_refuses_root", `harness '${spec.id}' does not run as root, and tier 'host' would run it as berth's user (root); use tier 'process' or higher, where it runs as uid 1000`);
    // A policy the harness would never consult must not look enforced.
    if (!spec.asksPermission && (input.permissionPolicy ?? "allow") !== "allow")
      throw badRequest(
        "permission_policy_unsupported",
        `harness '${spec.id}' runs its tools without asking, so permissionPolicy '${input.permissionPolicy}' cannot be enforced; use 'allow' (the sandbox tier is the boundary) or a harness that asks: ${HARNESSES.filter((h) => h.asksPermission).map((h) => h.id).join(", ")}`,
      );
    const driver = this.d.drivers.forTier(tier);
    if (!driver) throw new BerthError(501, "tier_unavailable", `tier '${tier}' has no sandbox driver in this build`);

    try {
      parsePolicy(input.network?.allow ?? []);
    } catch (e) {
      throw badRequest("invalid_network_policy", (e as Error).message);
    }
    let gitHosts: string[];
    try {
      gitHosts = parseGitHosts(input.git?.hosts ?? []);
    } catch (e) {
      throw badRequest("invalid_git_hosts", (e as Error).message);
    }
    const id = newId("ses");
    let workspace: string;
    let ownsWorkspace = false;
    if (input.workspace !== undefined) {
      // Canonical from here on: what is checked is what gets bound.
      workspace = resolveWorkspace(input.workspace, this.workspaces);
      assertAgentWritable(workspace, tier === "host" ? undefined : agentIds());
      this.assertWorkspaceFree(workspace);
    } else {
      workspace = join(this.d.config.home, "workspaces", id);
      mkdirForAgent(workspace, 0o755);
      ownsWorkspace = true;
    }
    // The model must resolve to exactly one provider with its secret present, now: a
    // session that would fail at its first model call is refused at creation.
    const model = input.model ?? this.d.defaultModel;
    const secrets = new Map(Object.entries(input.secrets ?? {}));
    const route = this.d.providers(ownsWorkspace ? undefined : workspace).resolve(model, { api: spec.api, provider: input.provider, secrets });
    const budget = this.budgetFor(input.budget);
    // A cost limit that could never be counted would be no limit at all.
    if (budget?.maxCostUsd !== undefined && !route.price)
      throw badRequest(
        "budget_unpriced",
        `budget.maxCostUsd needs a price for model ${model}, and provider ${route.provider} (${route.source}) has none; add one under its prices:, or use budget.maxTokens`,
      );
    const deadlines = effectiveDeadlines(input.deadlines, this.d.config.turnDeadlines);
    if ("over" in deadlines)
      throw badRequest(
        "deadline_over_limit",
        `deadlines.${deadlines.over} is above this server's limit of ${deadlines.max} ms (${DEADLINE_ENV[deadlines.over]})`,
      );
    const config: SessionConfig = {
      systemPrompt: input.systemPrompt,
      permissionPolicy: input.permissionPolicy ?? "allow",
      permissionTimeoutMs: input.permissionTimeoutMs ?? 5 * 60_000,
      mcpServers: input.mcpServers ?? [],
      metadata: input.metadata,
      writablePaths: input.writablePaths,
      provider: input.provider,
      egressAllow: input.network?.allow ?? [],
      egressAllowPrivate: input.network?.allowPrivateAddresses ?? false,
      gitHosts,
      ...(budget && Object.keys(budget).length ? { budget } : {}),
      deadlines: deadlines.limits,
    };
    const now = new Date().toISOString();
    const row: SessionRow = {
      id,
      harness: spec.id,
      harnessVersion: spec.version,
      model,
      tier,
      workspace,
      ownsWorkspace,
      state: "starting",
      config,
      acpSessionId: null,
      error: null,
      createdAt: now,
      updatedAt: now,
    };
    this.d.store.insertSession(row);
    this.emit(id, {
      type: "session.status",
      data: { state: "starting", harness: spec.id, model: row.model, provider: route.provider, providerSource: route.source, tier },
    });
    const live = this.newLive(id, spec, driver, route, config.budget);
    void this.boot(live, row, false);
    return row;
  }

  /** The session's limits: what it asked for, under the server's token ceiling (which is also the default). */
  private budgetFor(asked: BudgetLimits | undefined): BudgetLimits | undefined {
    const cap = this.d.config.maxSessionTokens;
    if (cap === undefined) return asked;
    if (asked?.maxTokens !== undefined && asked.maxTokens > cap)
      throw badRequest("budget_over_limit", `budget.maxTokens ${asked.maxTokens} is above this server's limit of ${cap} tokens per session (BERTH_MAX_SESSION_TOKENS)`);
    return { ...asked, maxTokens: asked?.maxTokens ?? cap };
  }

  /** Restarts the harness of an interrupted or failed session and reattaches (ACP session/load) where it can. */
  resume(id: string, input: { secrets?: Record<string, string> } = {}): SessionRow {
    const row = this.get(id);
    if (row.state !== "interrupted" && row.state !== "failed")
      throw conflict("not_resumable", `session ${id} is ${row.state}; only interrupted or failed sessions resume`);
    const spec = getHarness(row.harness)!;
    const driver = this.d.drivers.forTier(row.tier as Tier)!;
    if (!row.ownsWorkspace) this.assertWorkspaceFree(row.workspace, id);
    // Per-session secrets were never stored: a resume that needs them brings them again.
    const route = this.d.providers(row.ownsWorkspace ? undefined : row.workspace).resolve(row.model, {
      api: spec.api,
      provider: row.config.provider,
      secrets: new Map(Object.entries(input.secrets ?? {})),
    });
    this.setState(id, "starting");
    const live = this.newLive(id, spec, driver, route, row.config.budget);
    void this.boot(live, row, true);
    return this.get(id);
  }

  private newLive(id: string, spec: HarnessSpec, driver: SandboxDriver, route: ResolvedRoute, budget: BudgetLimits = {}): Live {
    const live: Live = {
      id,
      spec,
      driver,
      route,
      forgetSecrets: (route.liveSecrets ?? []).map((v) => this.d.redactor.add(v)),
      queue: [],
      ending: false,
      toolStatus: new Map(),
      traceContext: new Map(),
      // A resumed session's budget continues from what it already spent (a new one has spent nothing).
      budget: new SessionBudget(budget, Object.keys(budget).length ? this.d.store.modelSpend(id) : undefined, this.d.config.gatewayMaxConcurrentCalls),
      permissions: new PermissionBroker((ev) => this.emit(id, { ...ev, turnId: live.running })),
    };
    this.live.set(id, live);
    return live;
  }

  private async boot(live: Live, row: SessionRow, resume: boolean): Promise<void> {
    try {
      const launched = await this.launcher.launch(live, row, resume, this.sessionDir(live.id), {
        status: (detail) => this.emit(live.id, { type: "session.status", data: { state: "starting", detail } }),
        scope: this.gatewayScope(live),
        ownEndpoints: () => this.ownEndpoints(),
        beforeSandbox: () => {
          // The path was checked at creation; whatever it leads to now is what gets bound.
          if (!row.ownsWorkspace) this.recheckWorkspace(row);
          this.snapshotWorkspace(live.id, row);
        },
        onUpdate: (sid, u) => this.onUpdate(live, sid, u),
        onPermission: (req, signal) => this.onPermission(live, req, signal),
        onExit: (code, signal) => void this.onExit(live, code, signal),
      });
      if (!launched) return;
      if (live.ending) return;
      this.setState(live.id, "ready", null, {
        agent: launched.agentInfo,
        ...(resume ? { resumed: true } : {}),
      });
      void this.turnRunner.pump(live);
    } catch (e) {
      if (live.ending) return;
      // A sandbox that died during start-up shows up here as a write to a dead pipe (EPIPE);
      // onExit reports it with what the sandbox said on its way out.
      if (live.proc && (await Promise.race([live.proc.exited, new Promise<null>((r) => setTimeout(() => r(null), 1000))]))) return;
      if (live.ending) return;
      const err = e instanceof BerthError ? e : new BerthError(500, (e as any)?.code ?? "session_start_failed", String((e as Error)?.message ?? e));
      const stderr = live.agent?.stderr.trim();
      await this.fail(live, err.code, err.message + (stderr ? ` (harness stderr: ${stderr.slice(-800)})` : ""));
    }
  }

  private async fail(live: Live, code: string, message: string): Promise<void> {
    this.emit(live.id, { type: "error", turnId: live.running, data: { code, message } });
    if (live.running) this.turnRunner.finish(live, live.running, "failed", live.deadlinePassed ? DEADLINE_STOP_REASONS[live.deadlinePassed] : "error", message);
    for (const t of live.queue) this.d.store.endTurn(t, "failed", null);
    live.queue = [];
    live.ending = true;
    this.setState(live.id, "failed", message);
    await this.teardown(live);
    this.d.events.forget(live.id);
  }

  private async onExit(live: Live, code: number | null, signal: string | null): Promise<void> {
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
  async end(id: string): Promise<SessionRow> {
    const row = this.get(id);
    const live = this.live.get(id);
    if (live) {
      live.ending = true;
      if (live.running) this.turnRunner.finish(live, live.running, "cancelled", "cancelled");
      for (const t of live.queue) this.d.store.endTurn(t, "cancelled", null);
      await this.teardown(live);
    }
    if (row.state !== "ended") this.setState(id, "ended");
    rmSync(this.sessionDir(id), { recursive: true, force: true });
    if (row.ownsWorkspace) rmSync(row.workspace, { recursive: true, force: true });
    this.d.events.forget(id);
    return this.get(id);
  }

  private async teardown(live: Live): Promise<void> {
    live.permissions.cancelAll();
    this.turnRunner.stopDeadlines(live);
    this.d.gateway.revoke(live.id);
    live.agent?.close();
    await live.proc?.kill();
    this.neutralizeWorkspace(live.id);
    await live.egress?.close();
    for (const f of live.forgetSecrets) f();
    if (live.sandboxRowId) this.d.store.deleteSandbox(live.sandboxRowId);
    this.live.delete(live.id);
  }

  // --- turns -----------------------------------------------------------------

  postTurn(id: string, input: PostTurnInput): { turn: TurnRow; created: boolean } {
    const row = this.get(id);
    const prompt = typeof input.prompt === "string" ? [{ type: "text", text: input.prompt }] : input.prompt;
    const live = this.live.get(id);
    if (!live || live.ending) {
      // A retried POST for a turn that already exists is still answered, whatever the state.
      if (input.idempotencyKey) {
        const found = this.d.store.listTurns(id).find((t) => t.idempotencyKey === input.idempotencyKey);
        if (found) return { turn: found, created: false };
      }
      throw conflict("session_not_live", `session ${id} is ${row.state}; ${row.state === "interrupted" || row.state === "failed" ? "POST .../resume first" : "create a new session"}`);
    }
    const over = live.budget.exceeded();
    if (over) throw conflict("budget_exceeded", over.message);
    const { turn, created } = this.d.store.insertTurn({
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
  async cancel(id: string): Promise<{ turnId: string }> {
    this.get(id);
    const live = this.live.get(id);
    if (!live?.running || !live.agent || !live.acpSessionId)
      throw conflict("no_running_turn", `session ${id} has no running turn to cancel`);
    // ACP: the client answers pending permission requests with "cancelled" when it cancels.
    live.permissions.cancelAll();
    await live.agent.cancel(live.acpSessionId);
    return { turnId: live.running };
  }

  answerPermission(id: string, permissionId: string, answer: PermissionAnswer): { permissionId: string; optionId: string | null } {
    this.get(id);
    const live = this.live.get(id);
    if (!live) throw notFound("permission_not_found", `no pending permission ${permissionId} in session ${id}`);
    return live.permissions.answer(permissionId, answer);
  }

  // --- ACP callbacks -----------------------------------------------------------

  private onUpdate(live: Live, _acpSessionId: string, u: SessionUpdate): void {
    if (live.replaying) return;
    const ev = normalizeUpdate(u, live.running);
    if (!ev) return;
    live.turnSpan?.onEvent(ev);
    if (ev.type === "tool.call" || ev.type === "tool.update") {
      // Harnesses repeat tool updates that carry nothing new; keep the log lean.
      const d = ev.data as { toolCallId: string };
      const key = JSON.stringify(ev.data);
      if (live.toolStatus.get(d.toolCallId) === key || Object.keys(d).length === 1) return;
      live.toolStatus.set(d.toolCallId, key);
    }
    this.emit(live.id, ev);
  }

  private onPermission(live: Live, req: RequestPermissionRequest, signal: AbortSignal): Promise<RequestPermissionResponse> {
    // Some harnesses (Gemini CLI) announce a tool only inside the permission request; the
    // log still gets its tool.call first, so every harness's events read the same.
    if (!live.toolStatus.has(req.toolCall.toolCallId))
      this.onUpdate(live, "", { ...req.toolCall, title: req.toolCall.title ?? "", status: "pending", sessionUpdate: "tool_call" } as SessionUpdate);
    const cfg = this.get(live.id).config;
    // Waiting for a person does not count against the turn's deadlines; a wait nobody
    // answered (timed out) is charged back to the whole-turn limit.
    const waited = cfg.permissionPolicy === "ask" ? live.deadlines?.waitForPerson() : undefined;
    return live.permissions.request(req, cfg.permissionPolicy, cfg.permissionTimeoutMs, signal, waited);
  }

  /**
   * What the session's gateway token may do, registered when it is minted: its route, its
   * model pinned and priced, its budget reservation (sessions/budget.ts), and its call record.
   * Settling charges the reported usage; the call that reaches a limit emits the error.
   */
  private gatewayScope(live: Live): SessionScope {
    const { model, requestedModel, price, provider, api, baseUrl, auth, headers } = live.route;
    return {
      upstream: singleRoute({ provider, api, baseUrl, auth, headers }),
      admit: (call) =>
        admitCall({ models: [model, requestedModel], ...(price ? { price } : {}), budget: live.budget }, call, (breach) =>
          this.emit(live.id, { type: "error", turnId: live.running, data: { code: "budget_exceeded", ...breach } }),
        ),
      onCall: (rec) => this.onModelCall(rec),
    };
  }

  /** What a session's model calls have used so far. */
  spent(sessionId: string): { tokens: number; costUsd: number } {
    return { ...(this.live.get(sessionId)?.budget.spent ?? this.d.store.modelSpend(sessionId)) };
  }

  /** Each model call of the session lands in its log under the running turn. */
  private onModelCall(rec: ModelCallRecord): void {
    if (!this.d.store.getSession(rec.sessionId)) return;
    const { sessionId, ...data } = rec;
    const live = this.live.get(sessionId);
    const turnId = live?.running;
    this.emit(sessionId, { type: "model.call", turnId, data: { ...data } });
    // Harnesses differ in how (or whether) they surface a failed model call; berth always does.
    if (rec.status >= 400)
      this.emit(sessionId, {
        type: "error",
        turnId,
        data: { code: "model_call_failed", status: rec.status, provider: rec.provider, message: rec.error ?? `HTTP ${rec.status}` },
      });
  }

  // --- queries -----------------------------------------------------------------

  get(id: string): SessionRow {
    const row = this.d.store.getSession(id);
    if (!row) throw notFound("session_not_found", `no session ${id}`);
    return row;
  }

  list(limit?: number): SessionRow[] {
    return this.d.store.listSessions(limit);
  }

  turns(id: string): TurnRow[] {
    this.get(id);
    return this.d.store.listTurns(id);
  }

  liveCount(): number {
    return this.live.size;
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
    return [...(this.d.ownEndpoints?.() ?? []), ...proxies];
  }

  /** Two agents sharing a tree would undo each other's protections: one live session per workspace (nor one inside another's). */
  private assertWorkspaceFree(workspace: string, self?: string): void {
    const other = this.d.store
      .sessionsInStates(LIVE_STATES)
      .find((s) => s.id !== self && (within(workspace, s.workspace) || within(s.workspace, workspace)));
    if (other) throw conflict("workspace_in_use", `workspace ${workspace} overlaps ${other.workspace} of live session ${other.id}; end that session first, or use another workspace`);
  }

  private protectedSnapshotPath(id: string): string {
    return join(this.sessionDir(id), "protected.json");
  }

  /** Records the workspace's protected paths before the agent runs (in berth's session dir, out of the agent's reach). */
  private snapshotWorkspace(id: string, row: SessionRow): void {
    this.neutralizeWorkspace(id); // a snapshot left by a run that was never judged
    const snap = scanProtected(row.workspace, new Set(row.config.writablePaths ?? []));
    writeFileSync(this.protectedSnapshotPath(id), JSON.stringify(snap), { mode: 0o600 });
  }

  /**
   * Once no agent process is left: whatever code-running file appeared or changed in the
   * workspace (hooks, git config keys, .git files, rc files) goes to quarantine, in an event.
   */
  private neutralizeWorkspace(id: string): void {
    const file = this.protectedSnapshotPath(id);
    if (!existsSync(file)) return;
    const row = this.d.store.getSession(id);
    try {
      if (row) {
        const before = JSON.parse(readFileSync(file, "utf8")) as ProtectedSnapshot;
        const quarantine = join(this.d.config.home, "quarantine", id);
        const { items, truncated } = neutralize(row.workspace, before, quarantine, new Set(row.config.writablePaths ?? []));
        if (items.length || truncated) this.emit(id, { type: "workspace.neutralized", data: { items: items.map((i) => ({ ...i })), truncated } });
      }
    } catch (e) {
      this.d.logger.error({ session: id, err: e }, "could not check the workspace's protected paths");
      this.emit(id, { type: "error", data: { code: "workspace_check_failed", message: `berth could not check the workspace's protected paths after the session: ${(e as Error).message}` } });
    }
    rmSync(file, { force: true });
  }

  /** Right before the bind: the caller-named workspace still resolves to itself and is still allowed. */
  private recheckWorkspace(row: SessionRow): void {
    const now = resolveWorkspace(row.workspace, this.workspaces);
    if (now !== row.workspace) throw badRequest("workspace_changed", `workspace ${row.workspace} now resolves to ${now}; it was replaced since the session was created`);
    assertAgentWritable(now, row.tier === "host" ? undefined : agentIds());
  }

  private sessionDir(id: string): string {
    return join(this.d.config.home, "sessions", id);
  }

  private emit(id: string, ev: NewEvent): void {
    this.d.events.append(id, ev);
    // Any event of the running turn is progress against its deadlines.
    if (ev.turnId) {
      const live = this.live.get(id);
      if (live?.running === ev.turnId) live.deadlines?.event();
    }
  }

  private setState(id: string, state: SessionState, error: string | null = null, extra: Record<string, unknown> = {}): void {
    const msg = error ? this.d.redactor.redact(error) : null;
    this.d.store.setSessionState(id, state, msg);
    this.emit(id, { type: "session.status", data: { state, ...(msg ? { reason: msg } : {}), ...extra } });
  }
}

const DEADLINE_ENV: Record<keyof DeadlineLimits, string> = {
  turnMs: "BERTH_TURN_TIMEOUT_MS",
  idleMs: "BERTH_TURN_IDLE_TIMEOUT_MS",
  firstEventMs: "BERTH_TURN_FIRST_EVENT_TIMEOUT_MS",
};
