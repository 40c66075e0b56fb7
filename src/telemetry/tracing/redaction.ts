// Spans leave berth only redacted: every string they carry passes the redactor when the
// span ends, while the secrets it must hide are still registered.

import type { Attributes, AttributeValue, Context } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor, TimedEvent } from "@opentelemetry/sdk-trace-base";
import type { Redactor } from "../../secrets/redact.js";

function redactValue(value: AttributeValue | undefined, r: Redactor): AttributeValue | undefined {
  if (typeof value === "string") return r.redact(value);
  if (Array.isArray(value)) return value.map((item) => (typeof item === "string" ? r.redact(item) : item)) as AttributeValue;
  return value;
}

function redactAttributes(attributes: Attributes, r: Redactor): Attributes {
  const out: Attributes = {};
  for (const key of Object.keys(attributes)) out[key] = redactValue(attributes[key], r);
  return out;
}

/** A read-only copy of an ended span with every string attribute, event, link and status message redacted. */
export function redactSpan(span: ReadableSpan, r: Redactor): ReadableSpan {
  const sc = span.spanContext();
  const events: TimedEvent[] = span.events.map((e) => ({
    ...e,
    name: r.redact(e.name),
    ...(e.attributes ? { attributes: redactAttributes(e.attributes, r) } : {}),
  }));
  return {
    name: r.redact(span.name),
    kind: span.kind,
    spanContext: () => sc,
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status.message ? { ...span.status, message: r.redact(span.status.message) } : span.status,
    attributes: redactAttributes(span.attributes, r),
    links: span.links.map((l) => (l.attributes ? { ...l, attributes: redactAttributes(l.attributes, r) } : l)),
    events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/**
 * Redacts each span as it ends, then hands it to the next processor (the batcher). Done at
 * end time, not export time: a gateway token is forgotten by the redactor when its session
 * ends, which can be before the batch is sent.
 */
export class RedactingSpanProcessor implements SpanProcessor {
  constructor(
    private next: SpanProcessor,
    private redactor: Redactor,
  ) {}
  onStart(span: Parameters<SpanProcessor["onStart"]>[0], ctx: Context): void {
    this.next.onStart(span, ctx);
  }
  onEnd(span: ReadableSpan): void {
    this.next.onEnd(redactSpan(span, this.redactor));
  }
  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}
