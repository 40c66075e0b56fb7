import type { ModelCallRecord } from "../gateway/gateway.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing } from "../telemetry/tracing.js";
import type { StartPhase } from "./launch.js";
import type { LiveSession } from "./turn-runner.js";
import type { SessionRecord } from "./types.js";

/**
 * A session start's phases (sessions/launch.ts StartPhase, or a pool hit's `claim`), observed
 * in `berth_session_start_seconds` and traced as children of the start's span; then, once,
 * the first turn's wait for its first model byte.
 */
export class StartPhases {
  constructor(private readonly deps: { tracing: Tracing; metrics?: Metrics }) {}

  /** The session is ready: `asked` is when the create (or resume) request came in. */
  ready(live: LiveSession, record: SessionRecord, phases: StartPhase[], asked: number, pool: "hit" | "miss"): void {
    const ready = Date.now();
    for (const p of phases) this.deps.metrics?.recordStartPhase(p.name, pool, (p.end - p.start) / 1000);
    this.deps.metrics?.recordStartPhase("ready", pool, (ready - asked) / 1000);
    this.deps.tracing.sessionStart({ sessionId: live.id, harness: live.spec.id, model: record.model, tier: record.tier, pool, start: asked, end: ready, phases });
    live.firstModelByte = pool;
  }

  /** A model call ended: the first of the session's first turn gives the start's last phase. */
  modelCall(live: LiveSession | undefined, rec: ModelCallRecord): void {
    if (!live?.firstModelByte || !live.running || rec.ttfbMs === undefined) return;
    const pool = live.firstModelByte;
    live.firstModelByte = undefined;
    const start = live.turnStartedAt;
    if (!start) return;
    const firstByte = Date.now() - rec.durationMs + rec.ttfbMs;
    this.deps.metrics?.recordStartPhase("first_model_byte", pool, Math.max(0, firstByte - start) / 1000);
    this.deps.tracing.firstModelByte(live.id, start, firstByte);
  }
}
