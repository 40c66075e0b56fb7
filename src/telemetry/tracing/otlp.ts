// The recording half of tracing, loaded only when an OTLP endpoint is configured (the
// OpenTelemetry SDK and exporter take ~0.2 s to load, which every start would otherwise pay).

import type { Context, Span, Tracer } from "@opentelemetry/api";
import type { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { GenAiMetrics } from "./genai-metrics.js";
import { traceparentOf } from "./context.js";
import { ModelSpans } from "./model-spans.js";
import { SHUTDOWN_WAIT_MS, captureContentFromEnv, createMeterProvider, createTracerProvider, otlpConfigFromEnv, settle } from "./setup.js";
import { recordFirstModelByte, recordSessionStart } from "./start-spans.js";
import { ToolSpans } from "./tool-spans.js";
import { RunningTurns } from "./turn-spans.js";
import type { SessionStartInput, ChatSpanInput, ChatSpanResult, ToolSpanInput, ToolSpanResult, Tracing, TracingOptions, TurnSpan, TurnSpanInput } from "./types.js";

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
    private readonly meters: MeterProvider | undefined,
    readonly captureContent: boolean,
    private readonly opts: TracingOptions,
  ) {
    this.tracer = provider.getTracer("berth", opts.serviceVersion);
    this.tools = new ToolSpans(this.tracer, captureContent);
    this.turns = new RunningTurns({ tracer: this.tracer, tools: this.tools, captureContent });
    this.models = new ModelSpans(this.tracer, this.turns, meters ? new GenAiMetrics(meters.getMeter("berth", opts.serviceVersion)) : undefined);
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
    return settle(Promise.all([this.provider.forceFlush(), this.meters?.forceFlush()]).then(() => {}), this.waitMs, this.opts.logger);
  }

  async shutdown(): Promise<void> {
    this.turns.endAll({ stopReason: "interrupted" });
    // An unreachable collector must not hold berth's shutdown (the exporter retries for ~10s).
    await settle(Promise.all([this.provider.shutdown(), this.meters?.shutdown()]).then(() => {}), this.waitMs, this.opts.logger);
  }
}

/** Recording tracing per the environment's OTEL_* variables, or undefined when they name no endpoint. */
export function createOtlpTracing(opts: TracingOptions): Tracing | undefined {
  const env = opts.env ?? process.env;
  const cfg = otlpConfigFromEnv(env, opts.logger);
  if (!cfg) return undefined;
  return new OtlpTracing(createTracerProvider(cfg, opts), createMeterProvider(cfg, opts), captureContentFromEnv(env), opts);
}
