// Tracing that does nothing and costs nothing: what berth runs with no OTLP endpoint.

import { INVALID_SPAN_CONTEXT, ProxyTracerProvider, ROOT_CONTEXT, trace, type Span, type Tracer } from "@opentelemetry/api";
import type { Tracing, TurnSpan } from "./types.js";

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const NOOP_TURN: TurnSpan = Object.freeze({ span: NOOP_SPAN, ctx: ROOT_CONTEXT, traceparent: undefined, onEvent() {}, end() {} });
const NOOP_TRACER: Tracer = new ProxyTracerProvider().getTracer("berth");

export function noopTracing(): Tracing {
  return {
    enabled: false,
    captureContent: false,
    tracer: NOOP_TRACER,
    startTurnSpan: () => NOOP_TURN,
    turnContext: () => undefined,
    startChatSpan: () => NOOP_SPAN,
    endChatSpan() {},
    startToolSpan: () => NOOP_SPAN,
    endToolSpan() {},
    sessionStart() {},
    firstModelByte() {},
    traceparentOf: () => undefined,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}
