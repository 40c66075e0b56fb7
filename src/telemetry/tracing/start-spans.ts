// A session's start as a trace: an `invoke_agent {harness}` span from the create request to
// `ready`, with one child per phase (a pool hit's claim, or a cold start's install, sandbox
// start, ACP initialize and session/new or session/load), and the first turn's
// `berth.first_model_byte` under that turn's span. Phases are timed where they happen and
// recorded here afterwards, with their own start and end times.

import { ROOT_CONTEXT, SpanKind, trace, type Context, type Tracer } from "@opentelemetry/api";
import { BERTH, invokeAgentAttributes } from "./attributes.js";
import type { SessionStartInput } from "./types.js";

export function recordSessionStart(tracer: Tracer, input: SessionStartInput): void {
  const span = tracer.startSpan(`invoke_agent ${input.harness}`, {
    kind: SpanKind.INTERNAL,
    startTime: input.start,
    attributes: { ...invokeAgentAttributes(input), [BERTH.SESSION_PHASE]: "start", [BERTH.POOL]: input.pool },
  });
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  for (const p of input.phases) tracer.startSpan(`berth.${p.name}`, { startTime: p.start, attributes: { [BERTH.SESSION_PHASE]: p.name } }, ctx).end(p.end);
  span.end(input.end);
}

/** The first turn's wait for its first model byte, under the turn's span. */
export function recordFirstModelByte(tracer: Tracer, parent: Context | undefined, start: number, end: number): void {
  if (!parent) return;
  tracer.startSpan("berth.first_model_byte", { startTime: start, attributes: { [BERTH.SESSION_PHASE]: "first_model_byte" } }, parent).end(end);
}
