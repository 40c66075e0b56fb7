// W3C trace context in and out: the traceparent a request carried, and a span's own.

import { ROOT_CONTEXT, defaultTextMapGetter, isSpanContextValid, type Context, type Span } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

const propagator = new W3CTraceContextPropagator();

/** A header that arrived more than once counts by its first value. */
function firstHeaderValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The context a request's traceparent/tracestate headers name, or the root context without one. */
export function contextFromTraceparent(traceparent: string | string[] | undefined, tracestate: string | string[] | undefined): Context {
  const parent = firstHeaderValue(traceparent);
  if (!parent) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent: parent, tracestate: firstHeaderValue(tracestate) }, defaultTextMapGetter);
}

/** W3C traceparent of a span, or undefined for a no-op span. */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}
