// OpenTelemetry tracing for berth (docs/design.md, decision 8): one `invoke_agent {harness}`
// span per turn, parented to the W3C traceparent of the request that posted the turn,
// with `chat {model}` children from the model gateway and `execute_tool {name}` children
// from the turn's tool calls, all carrying GenAI semantic-convention attributes
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/, semconv 1.45 / semantic-conventions-genai).
//
// Configuration is the standard OTEL_* environment only. With no OTLP endpoint (or with
// OTEL_SDK_DISABLED=true) nothing is created: every helper returns a shared no-op object.
// Every string a span carries passes the redactor when the span ends, before it is queued
// for export, while the secrets it must hide are still registered.

import type { Context, Span, Tracer } from "@opentelemetry/api";
import type { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { traceparentOf } from "./tracing/context.js";
import { ModelSpans } from "./tracing/model-spans.js";
import { noopTracing } from "./tracing/noop.js";
import { SHUTDOWN_WAIT_MS, captureContentFromEnv, createTracerProvider, otlpConfigFromEnv, settle } from "./tracing/setup.js";
import { recordFirstModelByte, recordSessionStart } from "./tracing/start-spans.js";
import { ToolSpans } from "./tracing/tool-spans.js";
import { RunningTurns } from "./tracing/turn-spans.js";
import type { SessionStartInput, ChatSpanInput, ChatSpanResult, ToolSpanInput, ToolSpanResult, Tracing, TracingOptions, TurnSpan, TurnSpanInput } from "./tracing/types.js";

export { BERTH, EVENT_INFERENCE_DETAILS, GEN_AI, providerName } from "./tracing/attributes.js";
export { noopTracing } from "./tracing/noop.js";
export { otlpConfigFromEnv, type OtlpConfig } from "./tracing/setup.js";
export type * from "./tracing/types.js";

/** Tracing that records: spans go through the redactor to the OTLP exporter. */
class OtlpTracing implements Tracing {
  readonly enabled = true;
  readonly tracer: Tracer;
  private readonly tools: ToolSpans;
  private readonly turns: RunningTurns;
  private readonly models: ModelSpans;
  private readonly waitMs: number;

  constructor(
    private readonly provider: BasicTracerProvider,
    readonly captureContent: boolean,
    private readonly opts: TracingOptions,
  ) {
    this.tracer = provider.getTracer("berth", opts.serviceVersion);
    this.tools = new ToolSpans(this.tracer, captureContent);
    this.turns = new RunningTurns({ tracer: this.tracer, tools: this.tools, captureContent });
    this.models = new ModelSpans(this.tracer, this.turns);
    this.waitMs = opts.shutdownTimeoutMs ?? SHUTDOWN_WAIT_MS;
  }

  startTurnSpan(input: TurnSpanInput): TurnSpan {
    return this.turns.start(input);
  }

  turnContext(sessionId: string): Context | undefined {
    return this.turns.ofSession(sessionId)?.ctx;
  }

  sessionStart(input: SessionStartInput): void {
    recordSessionStart(this.tracer, input);
  }

  firstModelByte(sessionId: string, start: number, end: number): void {
    recordFirstModelByte(this.tracer, this.turnContext(sessionId), start, end);
  }

  startChatSpan(parent: Context | undefined, input: ChatSpanInput): Span {
    return this.models.start(parent, input);
  }

  endChatSpan(span: Span, result: ChatSpanResult): void {
    this.models.end(span, result);
  }

  startToolSpan(parent: Context | undefined, input: ToolSpanInput): Span {
    return this.tools.start(parent, input);
  }

  endToolSpan(span: Span, result?: ToolSpanResult): void {
    this.tools.end(span, result);
  }

  traceparentOf(span: Span): string | undefined {
    return traceparentOf(span);
  }

  forceFlush(): Promise<void> {
    return settle(this.provider.forceFlush(), this.waitMs, this.opts.logger);
  }

  async shutdown(): Promise<void> {
    this.turns.endAll({ stopReason: "interrupted" });
    // An unreachable collector must not hold berth's shutdown (the exporter retries for ~10s).
    await settle(this.provider.shutdown(), this.waitMs, this.opts.logger);
  }
}

/**
 * Tracing per the environment: OTLP/HTTP (JSON encoding) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, with OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME
 * and OTEL_RESOURCE_ATTRIBUTES; off (no-op) without an endpoint or with OTEL_SDK_DISABLED=true.
 */
export function createTracing(opts: TracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const cfg = otlpConfigFromEnv(env);
  if (!cfg) return noopTracing();
  return new OtlpTracing(createTracerProvider(cfg, opts), captureContentFromEnv(env), opts);
}
