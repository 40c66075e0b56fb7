import type { ContentBlock } from "@agentclientprotocol/sdk";
import type { AcpAgentConnection } from "../acp/agent-connection.js";
import type { NewEvent, SessionState } from "../events/types.js";
import type { HarnessSpec } from "../harnesses/types.js";
import type { ResolvedRoute } from "../providers/registry.js";
import type { EgressProxy } from "../sandboxes/egress/proxy.js";
import type { SandboxDriver, SandboxProcess } from "../sandboxes/types.js";
import type { SessionStore } from "./store.js";
import type { TurnRecord } from "./types.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing, TurnSpan } from "../telemetry/tracing.js";
import type { SessionBudget } from "./budget.js";
import { DEADLINE_STOP_REASONS, DeadlineWatch, serverDeadlines, type DeadlineKind, type DeadlineLimits } from "./deadlines.js";
import type { PermissionBroker } from "./permissions.js";

/** The in-memory half of a live session: its sandbox, ACP connection and turn queue. */
export interface LiveSession {
  /** The turn a cancel asked to stop (a turn cancelled before its prompt is never sent). */
  cancelRequested?: string;
  id: string;
  spec: HarnessSpec;
  driver: SandboxDriver;
  proc?: SandboxProcess;
  sandboxRowId?: string;
  agent?: AcpAgentConnection;
  acpSessionId?: string;
  queue: string[];
  running?: string;
  /** During ACP session/load the agent replays the conversation; berth's log already has it. */
  replaying?: boolean;
  ending: boolean;
  permissions: PermissionBroker;
  egress?: EgressProxy;
  /** Where this session's model traffic goes, with its credential (memory only). */
  route: ResolvedRoute;
  forgetSecrets: (() => void)[];
  /** Last update per tool call (serialized), to drop ACP updates that say nothing new. */
  toolStatus: Map<string, string>;
  /** The running turn's invoke_agent span. */
  turnSpan?: TurnSpan;
  /** Trace context posted with each queued turn, until it starts. */
  traceContext: Map<string, { traceparent: string; tracestate?: string }>;
  budget: SessionBudget;
  /** Set at ready until the first turn's first model byte is observed (its pool outcome labels it). */
  firstModelByte?: "hit" | "miss";
  /** When the running turn started (for its duration metric). */
  turnStartedAt?: number;
  /** The conversation berth rebuilt after a resume the harness could not restore: put before the next prompt, once. */
  primeWith?: string;
  /** A fork's conversation up to its turn, rebuilt from the source's log: its prompt prefix should its harness not restore it. */
  forkPrime?: string;
  /** A fork's ready event says its context was rebuilt (primeWith holds it). */
  contextOnReady?: "rebuilt";
  /** An upload-seeded session before its archive arrived: starts its harness. */
  awaitingSeed?: () => void;
  /** The running turn's deadlines. */
  deadlines?: DeadlineWatch;
  /** The deadline that passed for the running turn: its cancel is berth's, not the caller's. */
  deadlinePassed?: DeadlineKind;
}

/** How long a harness gets to stop a turn after berth cancels it for a deadline. */
const DEADLINE_CANCEL_GRACE_MS = 10_000;

/** What the turn runner needs of the session's owner. */
export interface TurnRunnerHost {
  store: Pick<SessionStore, "getTurn" | "getSession" | "startTurn" | "endTurn">;
  emit(sessionId: string, ev: NewEvent): void;
  setState(sessionId: string, state: SessionState): Promise<void>;
  /** Fails the whole session (a harness that ignored berth's cancel). */
  fail(live: LiveSession, code: string, message: string): Promise<void>;
  tracing: Tracing;
  metrics?: Metrics;
  /** The server's turn deadlines, for a session stored before sessions had their own. */
  serverDeadlines: DeadlineLimits;
  /** Snapshots the workspace at a turn's start and end (sessions/turn-snapshots.ts); never fails a turn. */
  snapshots?: { start(live: LiveSession, turnId: string): Promise<void>; end(live: LiveSession, turnId: string): Promise<void> };
}

/**
 * A session's turn queue: turns run one at a time, in the order posted, each with its
 * span and deadlines, and each ends in one place (finish) whatever ends it.
 */
export class TurnRunner {
  constructor(private readonly host: TurnRunnerHost) {}

  /** Starts the next queued turn when the session is ready for one; runs it to its end, then the next. */
  async pump(live: LiveSession): Promise<void> {
    if (live.running || !live.acpSessionId || !live.agent || live.ending) return;
    const turnId = live.queue.shift();
    if (!turnId) return;
    const over = live.budget.exceeded();
    if (over) {
      // Queued before the budget ran out: it never reaches the harness.
      this.host.emit(live.id, { type: "session.error", turnId, data: { code: "budget_exceeded", ...over } });
      await this.finish(live, turnId, "failed", "budget_exceeded");
      return void this.pump(live);
    }
    // Taken before the first await: a second pump() meanwhile sees the session busy.
    live.running = turnId;
    live.turnStartedAt = Date.now();
    const [turn, row] = await Promise.all([this.host.store.getTurn(turnId), this.host.store.getSession(live.id)]);
    if (!turn || !row) {
      live.running = undefined;
      return;
    }
    await this.host.store.startTurn(turnId);
    await this.host.setState(live.id, "running");
    this.host.emit(live.id, { type: "turn.started", turnId, data: { idx: turn.idx } });
    const tc = live.traceContext.get(turnId);
    live.traceContext.delete(turnId);
    live.turnSpan = this.host.tracing.startTurnSpan({
      harness: live.spec.id,
      harnessVersion: live.spec.version,
      sessionId: live.id,
      turnId,
      model: row.model,
      provider: live.route.provider,
      tier: row.tier,
      traceparent: tc?.traceparent,
      tracestate: tc?.tracestate,
      // Content is recorded only with BERTH_OTEL_CAPTURE_CONTENT=1.
      prompt: this.host.tracing.captureContent ? turn.prompt : undefined,
      systemPrompt: this.host.tracing.captureContent ? row.settings.systemPrompt : undefined,
    });
    // A session stored before deadlines existed gets the server's.
    this.watchDeadlines(live, row.settings.deadlines ?? serverDeadlines(this.host.serverDeadlines));
    await this.host.snapshots?.start(live, turnId);
    if (live.ending || live.running !== turnId) return;
    if (live.cancelRequested === turnId) {
      // Cancelled before its prompt went out: the harness never saw it.
      await this.host.snapshots?.end(live, turnId);
      await this.finish(live, turnId, "cancelled", "cancelled");
      await this.host.setState(live.id, "ready");
      return void this.pump(live);
    }
    try {
      // The API checked each block's shape loosely (type + fields); the harness judges the rest.
      const prime = live.primeWith;
      live.primeWith = undefined;
      const blocks = turn.prompt as ContentBlock[];
      const res = await live.agent.prompt(live.acpSessionId, prime ? [{ type: "text", text: prime }, ...blocks] : blocks);
      if (live.ending || live.running !== turnId) return;
      // What the turn changed, recorded before it is reported ended.
      await this.host.snapshots?.end(live, turnId);
      if (live.ending || live.running !== turnId) return;
      const passed = live.deadlinePassed;
      if (passed) await this.finish(live, turnId, "failed", DEADLINE_STOP_REASONS[passed]);
      else await this.finish(live, turnId, res.stopReason === "cancelled" ? "cancelled" : "completed", res.stopReason);
    } catch (e) {
      if (live.ending || live.running !== turnId) return;
      await this.host.snapshots?.end(live, turnId);
      if (live.ending || live.running !== turnId) return;
      const message = String((e as Error | undefined)?.message ?? e);
      this.host.emit(live.id, { type: "session.error", turnId, data: { code: "turn_failed", message } });
      await this.finish(live, turnId, "failed", "error", message);
    }
    if (live.ending) return;
    await this.host.setState(live.id, "ready");
    void this.pump(live);
  }

  /**
   * Ends a turn, in the one order every path uses: pending permissions resolve first (a
   * cancelled request is part of the turn), then its span and metric, the store, and last
   * turn.ended.
   */
  async finish(live: LiveSession, turnId: string, state: TurnRecord["state"], stopReason: string, error?: string): Promise<void> {
    let startedAt: number | undefined;
    if (live.running === turnId) {
      live.permissions.cancelAll();
      this.stopDeadlines(live);
      live.turnSpan?.end({ stopReason, error });
      live.turnSpan = undefined;
      startedAt = live.turnStartedAt;
      // Cleared before the store's await: nothing else finishes this turn a second time.
      live.running = undefined;
      live.turnStartedAt = undefined;
      live.deadlinePassed = undefined;
      live.toolStatus.clear();
    }
    this.host.metrics?.recordTurn(live.spec.id, stopReason, startedAt ? (Date.now() - startedAt) / 1000 : undefined);
    await this.host.store.endTurn(turnId, state, stopReason);
    this.host.emit(live.id, { type: "turn.ended", turnId, data: { stopReason } });
  }

  // --- deadlines ------------------------------------------------------------------

  private watchDeadlines(live: LiveSession, limits: DeadlineLimits): void {
    if (Object.keys(limits).length) live.deadlines = new DeadlineWatch(limits, (kind, limitMs) => void this.onDeadline(live, kind, limitMs));
  }

  stopDeadlines(live: LiveSession): void {
    live.deadlines?.stop();
    live.deadlines = undefined;
  }

  /** A deadline passed: say so, cancel the turn, and give the harness a grace period to stop. */
  private async onDeadline(live: LiveSession, kind: DeadlineKind, limitMs: number): Promise<void> {
    const turnId = live.running;
    if (!turnId || !live.agent || !live.acpSessionId) return;
    live.deadlinePassed = kind;
    const what = kind === "turn" ? "the turn ran longer than" : kind === "idle" ? "the turn produced no event for" : "the turn produced no first event within";
    this.host.emit(live.id, {
      type: "session.error",
      turnId,
      data: { code: "turn_deadline", deadline: kind, limitMs, message: `${what} ${limitMs} ms (time waiting for a permission answer not counted); berth cancelled it` },
    });
    live.permissions.cancelAll();
    live.agent.cancel(live.acpSessionId).catch(() => {});
    const grace = setTimeout(() => {
      if (live.running !== turnId || live.ending) return;
      // The harness ignored the cancel: it can't be trusted with the next turn.
      void this.host.fail(live, "harness_unresponsive", `the harness did not stop turn ${turnId} within ${DEADLINE_CANCEL_GRACE_MS / 1000}s of berth's cancel after its ${kind} deadline`);
    }, DEADLINE_CANCEL_GRACE_MS);
    grace.unref();
  }
}
