// OpenTelemetry tracing for berth (docs/design.md, decision 8): one `invoke_agent {harness}`
// span per turn, parented to the W3C traceparent of the request that posted the turn,
// with `chat {model}` children from the model gateway and `execute_tool {name}` children
// from ACP tool calls, all carrying GenAI semantic-convention attributes
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/, semconv 1.45 / semantic-conventions-genai).
//
// Configuration is the standard OTEL_* environment only. With no OTLP endpoint (or with
// OTEL_SDK_DISABLED=true) nothing is created: every helper returns a shared no-op object.
// Every string a span carries passes the redactor when the span ends, before it is queued
// for export, while the secrets it must hide are still registered.

import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  isSpanContextValid,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from "@opentelemetry/api";
import { ExportResultCode, W3CTraceContextPropagator, parseKeyPairsIntoRecord, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
  type TimedEvent,
} from "@opentelemetry/sdk-trace-base";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from "@opentelemetry/semantic-conventions";
import type { Redactor } from "../secrets/redact.js";

/**
 * GenAI attribute names. The JS package ships them only from its unstable `incubating`
 * entry point, which it advises copying rather than importing; test/telemetry checks these
 * against it.
 */
export const GEN_AI = {
  OPERATION_NAME: "gen_ai.operation.name",
  PROVIDER_NAME: "gen_ai.provider.name",
  AGENT_NAME: "gen_ai.agent.name",
  AGENT_VERSION: "gen_ai.agent.version",
  CONVERSATION_ID: "gen_ai.conversation.id",
  REQUEST_MODEL: "gen_ai.request.model",
  REQUEST_STREAM: "gen_ai.request.stream",
  RESPONSE_MODEL: "gen_ai.response.model",
  RESPONSE_ID: "gen_ai.response.id",
  RESPONSE_FINISH_REASONS: "gen_ai.response.finish_reasons",
  RESPONSE_TIME_TO_FIRST_CHUNK: "gen_ai.response.time_to_first_chunk",
  USAGE_INPUT_TOKENS: "gen_ai.usage.input_tokens",
  USAGE_OUTPUT_TOKENS: "gen_ai.usage.output_tokens",
  USAGE_CACHE_READ_INPUT_TOKENS: "gen_ai.usage.cache_read.input_tokens",
  USAGE_CACHE_CREATION_INPUT_TOKENS: "gen_ai.usage.cache_creation.input_tokens",
  USAGE_REASONING_OUTPUT_TOKENS: "gen_ai.usage.reasoning.output_tokens",
  TOOL_NAME: "gen_ai.tool.name",
  TOOL_CALL_ID: "gen_ai.tool.call.id",
  TOOL_TYPE: "gen_ai.tool.type",
  TOOL_CALL_ARGUMENTS: "gen_ai.tool.call.arguments",
  TOOL_CALL_RESULT: "gen_ai.tool.call.result",
  INPUT_MESSAGES: "gen_ai.input.messages",
  OUTPUT_MESSAGES: "gen_ai.output.messages",
  SYSTEM_INSTRUCTIONS: "gen_ai.system_instructions",
} as const;

/** The one GenAI content event (semconv gen-ai-events.md); content goes only there, and only on opt-in. */
export const EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details";

/** berth's own attributes, for what the GenAI conventions have no name for. */
export const BERTH = {
  TURN_ID: "berth.turn.id",
  TURN_STOP_REASON: "berth.turn.stop_reason",
  TURN_MODEL_CALLS: "berth.turn.model_calls",
  TURN_TOOL_CALLS: "berth.turn.tool_calls",
  HARNESS: "berth.harness",
  TIER: "berth.sandbox.tier",
  PROVIDER: "berth.provider",
  API: "berth.gateway.api",
  COST_USD: "berth.usage.cost_usd",
  TOOL_KIND: "berth.tool.kind",
  TOOL_STATUS: "berth.tool.status",
} as const;

/** Longest content string recorded (opt-in capture); longer ones are cut and marked. */
export const MAX_CONTENT_CHARS = 16 * 1024;
/** Open tool spans kept per turn; a harness that never closes its tool calls cannot grow this. */
const MAX_OPEN_TOOLS = 256;

export interface TracingOptions {
  env?: NodeJS.ProcessEnv;
  redactor: Redactor;
  serviceVersion: string;
  /** pino-compatible; export failures are reported here (at most once a minute). */
  logger?: { warn(obj: object, msg?: string): void };
  /** Longest wait for the exporter in shutdown()/forceFlush() (default 5 s); a dead collector must not hold berth's exit. */
  shutdownTimeoutMs?: number;
  /** Tests: override the batch processor's settings. */
  batch?: { scheduledDelayMillis?: number; maxExportBatchSize?: number; maxQueueSize?: number };
}

export interface TurnSpanInput {
  harness: string;
  sessionId: string;
  turnId: string;
  /** The session's model (gen_ai.request.model). */
  model?: string;
  /** Upstream provider id (e.g. "anthropic", "openai", "mock"): gen_ai.provider.name. */
  provider?: string;
  harnessVersion?: string;
  tier?: string;
  /** W3C trace context of the request that posted the turn. */
  traceparent?: string | string[];
  tracestate?: string | string[];
  /** The ACP prompt (content blocks) or text; recorded only with content capture on. */
  prompt?: unknown;
  systemPrompt?: string;
}

export interface TurnEnd {
  /** ACP stop reason, or berth's own: error, cancelled, interrupted. */
  stopReason?: string;
  /** Set when the turn failed: recorded as span status (redacted) and error.type. */
  error?: string;
  errorType?: string;
}

/** Anything carrying `sessionUpdate`: an ACP SessionUpdate. */
export interface AcpUpdateLike {
  sessionUpdate: string;
}

export interface TurnSpan {
  readonly span: Span;
  /** Parent context for this turn's children (chat and tool spans). */
  readonly ctx: Context;
  /** The turn span's W3C traceparent, or undefined when tracing is off. */
  readonly traceparent: string | undefined;
  /** Feed every ACP session/update of the turn: tool calls become execute_tool spans; with content capture, message text is kept for the output. */
  onAcpUpdate(u: AcpUpdateLike): void;
  /** Ends open tool spans, then the turn span. Idempotent. */
  end(result?: TurnEnd): void;
}

export interface ChatSpanInput {
  provider: string;
  /** The model asked for; the span is named `chat {requestModel}`. */
  requestModel?: string;
  api?: string;
  /** gen_ai.conversation.id; when `parent` is undefined the session's running turn becomes the parent. */
  sessionId?: string;
  /** Upstream URL: server.address / server.port. */
  serverUrl?: string | URL;
  stream?: boolean;
}

export interface ChatUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

export interface ChatSpanResult {
  /** HTTP status of the upstream response (0 or undefined: no response). */
  status?: number;
  /** The model the request body named, when it differs from what the span started with (renames the span). */
  requestModel?: string;
  stream?: boolean;
  responseModel?: string;
  responseId?: string;
  usage?: ChatUsage;
  /** Only when the response carried usage; otherwise leave undefined so no zeros are recorded. */
  finishReasons?: string[];
  /** Failure message (redacted before export); sets span status ERROR. */
  error?: string;
  /** Short low-cardinality class for error.type; defaults to the HTTP status or "_OTHER". */
  errorType?: string;
  timeToFirstChunkMs?: number;
  costUsd?: number;
}

export interface ToolSpanInput {
  name: string;
  toolCallId?: string;
  /** ACP tool kind (read, edit, execute, ...). */
  kind?: string;
  /** Recorded only with content capture on. */
  arguments?: unknown;
}

export interface ToolSpanResult {
  /** ACP status: completed, failed; anything else (e.g. "incomplete") is recorded as is. */
  status?: string;
  error?: string;
  /** Recorded only with content capture on. */
  result?: unknown;
}

export interface Tracing {
  readonly enabled: boolean;
  readonly captureContent: boolean;
  readonly tracer: Tracer;
  startTurnSpan(input: TurnSpanInput): TurnSpan;
  /** The running turn's context for a session (what the gateway parents chat spans to). */
  turnContext(sessionId: string): Context | undefined;
  startChatSpan(parent: Context | undefined, input: ChatSpanInput): Span;
  endChatSpan(span: Span, result: ChatSpanResult): void;
  startToolSpan(parent: Context | undefined, input: ToolSpanInput): Span;
  endToolSpan(span: Span, result?: ToolSpanResult): void;
  /** W3C traceparent of a span, e.g. to hand to an upstream or return to a client. */
  traceparentOf(span: Span): string | undefined;
  forceFlush(): Promise<void>;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

// --- configuration -----------------------------------------------------------------------

export interface OtlpConfig {
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
}

/** The OTLP/HTTP traces endpoint the standard variables name, or undefined when tracing is off. */
export function otlpConfigFromEnv(env: NodeJS.ProcessEnv): OtlpConfig | undefined {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return undefined;
  if ((env.OTEL_TRACES_EXPORTER ?? "").trim().toLowerCase() === "none") return undefined;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // The signal-specific URL is used as is; the base URL gets the signal path appended.
  const url = specific || (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (!url) return undefined;
  try {
    new URL(url);
  } catch {
    return undefined;
  }
  return {
    url,
    headers: { ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    serviceName: env.OTEL_SERVICE_NAME?.trim() || "berth",
    resourceAttributes: parseKeyPairsIntoRecord(env.OTEL_RESOURCE_ATTRIBUTES),
  };
}

function captureFromEnv(env: NodeJS.ProcessEnv): boolean {
  const on = (v: string | undefined) => ["1", "true", "yes"].includes((v ?? "").trim().toLowerCase());
  // The GenAI instrumentations' conventional switch is honoured too.
  return on(env.BERTH_OTEL_CAPTURE_CONTENT) || on(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT);
}

/**
 * gen_ai.provider.name for a berth provider id: the semconv well-known value where one
 * applies (anthropic, openai, deepseek, moonshot_ai, ...), else the id itself.
 */
export function providerName(id: string): string {
  const p = id.trim().toLowerCase();
  if (p.startsWith("anthropic") || p === "claude") return "anthropic";
  if (p.startsWith("azure")) return "azure.ai.openai";
  if (p.startsWith("openai")) return "openai";
  if (p.includes("bedrock")) return "aws.bedrock";
  if (p.includes("vertex")) return "gcp.vertex_ai";
  if (p.startsWith("gemini") || p.startsWith("google")) return "gcp.gemini";
  if (p.startsWith("deepseek")) return "deepseek";
  if (p.startsWith("moonshot") || p.startsWith("kimi")) return "moonshot_ai";
  if (p.startsWith("mistral")) return "mistral_ai";
  if (p.startsWith("groq")) return "groq";
  if (p === "xai" || p === "x_ai" || p.startsWith("grok")) return "x_ai";
  if (p.startsWith("cohere")) return "cohere";
  if (p.startsWith("perplexity")) return "perplexity";
  return p || "_OTHER";
}

// --- redaction ---------------------------------------------------------------------------------

function redactValue(v: AttributeValue | undefined, r: Redactor): AttributeValue | undefined {
  if (typeof v === "string") return r.redact(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === "string" ? r.redact(x) : x)) as AttributeValue;
  return v;
}

function redactAttributes(a: Attributes, r: Redactor): Attributes {
  const out: Attributes = {};
  for (const k of Object.keys(a)) out[k] = redactValue(a[k], r);
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

/** Reports failed exports to the logger, at most once a minute, with the error redacted. */
class ReportingExporter implements SpanExporter {
  private lastWarn = 0;
  constructor(
    private inner: SpanExporter,
    private url: string,
    private redactor: Redactor,
    private logger?: TracingOptions["logger"],
  ) {}
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code !== ExportResultCode.SUCCESS && this.logger && Date.now() - this.lastWarn > 60_000) {
        this.lastWarn = Date.now();
        this.logger.warn(
          { otlp: this.redactor.redact(this.url), spans: spans.length, error: this.redactor.redact(String(r.error?.message ?? r.error ?? "unknown")) },
          "OTLP trace export failed; spans dropped",
        );
      }
      done(r);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

// --- content ----------------------------------------------------------------------------------

function cut(s: string): string {
  return s.length > MAX_CONTENT_CHARS ? `${s.slice(0, MAX_CONTENT_CHARS)}…[truncated ${s.length - MAX_CONTENT_CHARS} chars]` : s;
}

function json(v: unknown): string {
  try {
    return cut(typeof v === "string" ? v : (JSON.stringify(v) ?? ""));
  } catch {
    return "";
  }
}

/** ACP prompt content blocks → GenAI message parts (semconv gen-ai-input-messages.json). */
function promptParts(prompt: unknown): object[] {
  if (typeof prompt === "string") return [{ type: "text", content: cut(prompt) }];
  if (!Array.isArray(prompt)) return [];
  return prompt.map((b: any) => {
    switch (b?.type) {
      case "text":
        return { type: "text", content: cut(String(b.text ?? "")) };
      case "resource_link":
        return { type: "uri", uri: String(b.uri ?? ""), ...(b.mimeType ? { mime_type: b.mimeType } : {}) };
      case "resource":
        return typeof b.resource?.text === "string"
          ? { type: "text", content: cut(b.resource.text) }
          : { type: "uri", uri: String(b.resource?.uri ?? "") };
      case "image":
      case "audio":
        // Media is not copied into telemetry; its presence is.
        return { type: "blob", modality: b.type, ...(b.mimeType ? { mime_type: b.mimeType } : {}) };
      default:
        return { type: "generic", content_type: String(b?.type ?? "unknown") };
    }
  });
}

/** The text of ACP tool-call content blocks. */
function toolText(content: unknown): string | undefined {
  if (!Array.isArray(content)) return undefined;
  const t = content
    .map((c: any) => (c?.type === "content" && c.content?.type === "text" ? String(c.content.text ?? "") : undefined))
    .filter((x): x is string => x !== undefined);
  return t.length ? t.join("\n") : undefined;
}

/**
 * A low-cardinality tool name from an ACP tool call: the harness's own tool name where it
 * reports one (claude-agent-acp: `_meta.claudeCode.toolName`, or `name`), else the ACP kind.
 * Never the title: titles carry commands and paths.
 */
export function acpToolName(u: object): string {
  const x = u as any;
  const n = x._meta?.claudeCode?.toolName ?? x.name ?? x.kind;
  return typeof n === "string" && n ? n.slice(0, 64) : "tool";
}

// --- spans ------------------------------------------------------------------------------------

function traceparentOf(span: Span): string | undefined {
  const sc: SpanContext = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const NOOP_TURN: TurnSpan = Object.freeze({ span: NOOP_SPAN, ctx: ROOT_CONTEXT, traceparent: undefined, onAcpUpdate() {}, end() {} });
const NOOP_TRACER: Tracer = new ProxyTracerProvider().getTracer("berth");

/** Tracing that does nothing and costs nothing: what createTracing returns when no endpoint is set. */
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
    traceparentOf: () => undefined,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/** How long shutdown() and forceFlush() wait for the exporter by default. */
const SHUTDOWN_WAIT_MS = 5_000;

/** Waits for `p` at most `ms`; a failure is logged, never thrown. */
async function settle(p: Promise<void>, ms: number, logger?: TracingOptions["logger"]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms).unref()))]);
  } catch (e) {
    logger?.warn({ error: String((e as Error)?.message ?? e) }, "OTLP trace flush failed");
  } finally {
    clearTimeout(timer);
  }
}

interface Totals {
  calls: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
  models: Set<string>;
}

interface OpenTool {
  span: Span;
  input?: unknown;
  output?: unknown;
  text?: string;
}

/**
 * Tracing per the environment: OTLP/HTTP (JSON encoding) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, with OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME
 * and OTEL_RESOURCE_ATTRIBUTES; off (no-op) without an endpoint or with OTEL_SDK_DISABLED=true.
 * The provider is not registered globally: berth's spans come only from these helpers.
 */
export function createTracing(opts: TracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const cfg = otlpConfigFromEnv(env);
  if (!cfg) return noopTracing();
  const { redactor } = opts;
  // Exporter credentials (e.g. an API key header) are secrets like any other.
  for (const v of Object.values(cfg.headers)) {
    redactor.add(v);
    const scheme = /^\S+\s+(\S.*)$/.exec(v); // "Bearer <token>", "Basic <b64>", "Api-Key <key>"
    if (scheme) redactor.add(scheme[1]);
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim();
  if (protocol === "grpc") opts.logger?.warn({ protocol }, "berth exports traces over OTLP/HTTP only; OTEL_EXPORTER_OTLP_PROTOCOL=grpc is ignored");

  const exporter = new ReportingExporter(new OTLPTraceExporter({ url: cfg.url, headers: cfg.headers }), cfg.url, redactor, opts.logger);
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...cfg.resourceAttributes, [ATTR_SERVICE_NAME]: cfg.serviceName, [ATTR_SERVICE_VERSION]: opts.serviceVersion }),
    ),
    spanProcessors: [new RedactingSpanProcessor(new BatchSpanProcessor(exporter, opts.batch), redactor)],
  });
  const tracer = provider.getTracer("berth", opts.serviceVersion);
  const captureContent = captureFromEnv(env);
  const propagator = new W3CTraceContextPropagator();
  const turns = new Map<string, TurnImpl>(); // sessionId → running turn
  const turnByCtx = new WeakMap<Context, TurnImpl>();
  const chatTurn = new WeakMap<Span, TurnImpl>();

  function startToolSpan(parent: Context | undefined, input: ToolSpanInput): Span {
    const name = input.name || "tool";
    const span = tracer.startSpan(
      `execute_tool ${name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [GEN_AI.OPERATION_NAME]: "execute_tool",
          [GEN_AI.TOOL_NAME]: name,
          // Tools the harness runs for the model are functions in semconv's sense: the model
          // produces arguments, the client (the harness) executes them.
          [GEN_AI.TOOL_TYPE]: "function",
          ...(input.toolCallId ? { [GEN_AI.TOOL_CALL_ID]: input.toolCallId } : {}),
          ...(input.kind ? { [BERTH.TOOL_KIND]: input.kind } : {}),
          ...(captureContent && input.arguments !== undefined ? { [GEN_AI.TOOL_CALL_ARGUMENTS]: json(input.arguments) } : {}),
        },
      },
      parent ?? ROOT_CONTEXT,
    );
    return span;
  }

  function endToolSpan(span: Span, result: ToolSpanResult = {}): void {
    if (!span.isRecording()) return;
    const status = result.status ?? "completed";
    span.setAttribute(BERTH.TOOL_STATUS, status);
    if (captureContent && result.result !== undefined) span.setAttribute(GEN_AI.TOOL_CALL_RESULT, json(result.result));
    if (status === "failed" || result.error) {
      span.setAttribute(ATTR_ERROR_TYPE, "tool_failed");
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ? cut(result.error) : "tool call failed" });
    }
    span.end();
  }

  class TurnImpl implements TurnSpan {
    readonly span: Span;
    readonly ctx: Context;
    readonly traceparent: string | undefined;
    readonly totals: Totals = { calls: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0, cost: 0, models: new Set() };
    private tools = new Map<string, OpenTool>();
    private toolCount = 0;
    private out = "";
    private thought = "";
    private ended = false;

    constructor(private input: TurnSpanInput) {
      let parent = ROOT_CONTEXT;
      const tp = first(input.traceparent);
      if (tp) parent = propagator.extract(ROOT_CONTEXT, { traceparent: tp, tracestate: first(input.tracestate) }, defaultTextMapGetter);
      this.span = tracer.startSpan(
        `invoke_agent ${input.harness}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [GEN_AI.OPERATION_NAME]: "invoke_agent",
            [GEN_AI.AGENT_NAME]: input.harness,
            [GEN_AI.CONVERSATION_ID]: input.sessionId,
            [BERTH.TURN_ID]: input.turnId,
            [BERTH.HARNESS]: input.harness,
            ...(input.provider ? { [GEN_AI.PROVIDER_NAME]: providerName(input.provider), [BERTH.PROVIDER]: input.provider } : {}),
            ...(input.model ? { [GEN_AI.REQUEST_MODEL]: input.model } : {}),
            ...(input.harnessVersion ? { [GEN_AI.AGENT_VERSION]: input.harnessVersion } : {}),
            ...(input.tier ? { [BERTH.TIER]: input.tier } : {}),
          },
        },
        parent,
      );
      this.ctx = trace.setSpan(parent, this.span);
      this.traceparent = traceparentOf(this.span);
    }

    onAcpUpdate(u: AcpUpdateLike): void {
      if (this.ended) return;
      const x = u as any;
      switch (u.sessionUpdate) {
        case "tool_call":
        case "tool_call_update": {
          const id = typeof x.toolCallId === "string" ? x.toolCallId : undefined;
          if (!id) return;
          let t = this.tools.get(id);
          if (!t) {
            if (this.tools.size >= MAX_OPEN_TOOLS) return;
            t = { span: startToolSpan(this.ctx, { name: acpToolName(x), toolCallId: id, kind: typeof x.kind === "string" ? x.kind : undefined }) };
            this.tools.set(id, t);
            this.toolCount++;
          }
          if (captureContent) {
            if (x.rawInput !== undefined) t.input = x.rawInput;
            if (x.rawOutput !== undefined) t.output = x.rawOutput;
            const text = toolText(x.content);
            if (text !== undefined) t.text = text;
          }
          if (x.status === "completed" || x.status === "failed") this.closeTool(id, x.status);
          return;
        }
        case "agent_message_chunk":
          if (captureContent && x.content?.type === "text" && this.out.length < MAX_CONTENT_CHARS) this.out += String(x.content.text ?? "");
          return;
        case "agent_thought_chunk":
          if (captureContent && x.content?.type === "text" && this.thought.length < MAX_CONTENT_CHARS) this.thought += String(x.content.text ?? "");
          return;
      }
    }

    private closeTool(id: string, status: string): void {
      const t = this.tools.get(id);
      if (!t) return;
      this.tools.delete(id);
      if (captureContent && t.input !== undefined) t.span.setAttribute(GEN_AI.TOOL_CALL_ARGUMENTS, json(t.input));
      endToolSpan(t.span, { status, ...(captureContent ? { result: t.output ?? t.text } : {}) });
    }

    end(result: TurnEnd = {}): void {
      if (this.ended) return;
      this.ended = true;
      for (const id of [...this.tools.keys()]) this.closeTool(id, "incomplete");
      if (turns.get(this.input.sessionId) === this) turns.delete(this.input.sessionId);
      const s = this.span;
      const t = this.totals;
      const stop = result.stopReason;
      if (stop) {
        s.setAttribute(BERTH.TURN_STOP_REASON, stop);
        s.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, [stop]);
      }
      s.setAttribute(BERTH.TURN_MODEL_CALLS, t.calls);
      s.setAttribute(BERTH.TURN_TOOL_CALLS, this.toolCount);
      if (t.calls > 0) {
        s.setAttribute(GEN_AI.USAGE_INPUT_TOKENS, t.input);
        s.setAttribute(GEN_AI.USAGE_OUTPUT_TOKENS, t.output);
        if (t.cacheRead) s.setAttribute(GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS, t.cacheRead);
        if (t.cacheWrite) s.setAttribute(GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS, t.cacheWrite);
        if (t.reasoning) s.setAttribute(GEN_AI.USAGE_REASONING_OUTPUT_TOKENS, t.reasoning);
        if (t.cost) s.setAttribute(BERTH.COST_USD, t.cost);
        // A turn can span several models (Claude Code's side calls use a small one).
        if (t.models.size === 1) s.setAttribute(GEN_AI.RESPONSE_MODEL, [...t.models][0]!);
      }
      if (captureContent) {
        const parts: object[] = [];
        if (this.thought) parts.push({ type: "reasoning", content: cut(this.thought) });
        if (this.out) parts.push({ type: "text", content: cut(this.out) });
        s.addEvent(EVENT_INFERENCE_DETAILS, {
          [GEN_AI.OPERATION_NAME]: "invoke_agent",
          ...(this.input.provider ? { [GEN_AI.PROVIDER_NAME]: providerName(this.input.provider) } : {}),
          [GEN_AI.INPUT_MESSAGES]: JSON.stringify([{ role: "user", parts: promptParts(this.input.prompt) }]),
          [GEN_AI.OUTPUT_MESSAGES]: JSON.stringify([{ role: "assistant", parts, ...(stop ? { finish_reason: stop } : {}) }]),
          ...(this.input.systemPrompt ? { [GEN_AI.SYSTEM_INSTRUCTIONS]: JSON.stringify([{ type: "text", content: cut(this.input.systemPrompt) }]) } : {}),
        });
      }
      if (result.error || stop === "error") {
        s.setAttribute(ATTR_ERROR_TYPE, result.errorType ?? "turn_failed");
        s.setStatus({ code: SpanStatusCode.ERROR, message: cut(result.error ?? "turn failed") });
      }
      s.end();
    }
  }

  return {
    enabled: true,
    captureContent,
    tracer,

    startTurnSpan(input) {
      const t = new TurnImpl(input);
      turns.set(input.sessionId, t);
      turnByCtx.set(t.ctx, t);
      return t;
    },

    turnContext: (sessionId) => turns.get(sessionId)?.ctx,

    startChatSpan(parent, input) {
      const turn = parent ? turnByCtx.get(parent) : input.sessionId ? turns.get(input.sessionId) : undefined;
      const ctx = parent ?? turn?.ctx ?? ROOT_CONTEXT;
      const attrs: Attributes = {
        [GEN_AI.OPERATION_NAME]: "chat",
        [GEN_AI.PROVIDER_NAME]: providerName(input.provider),
        [BERTH.PROVIDER]: input.provider,
      };
      if (input.requestModel) attrs[GEN_AI.REQUEST_MODEL] = input.requestModel;
      if (input.api) attrs[BERTH.API] = input.api;
      if (input.sessionId) attrs[GEN_AI.CONVERSATION_ID] = input.sessionId;
      if (input.stream !== undefined) attrs[GEN_AI.REQUEST_STREAM] = input.stream;
      if (input.serverUrl) {
        try {
          const u = typeof input.serverUrl === "string" ? new URL(input.serverUrl) : input.serverUrl;
          attrs[ATTR_SERVER_ADDRESS] = u.hostname.replace(/^\[|\]$/g, "");
          attrs[ATTR_SERVER_PORT] = Number(u.port) || (u.protocol === "https:" ? 443 : 80);
        } catch {
          /* not a URL: leave the server unnamed */
        }
      }
      const span = tracer.startSpan(input.requestModel ? `chat ${input.requestModel}` : "chat", { kind: SpanKind.CLIENT, attributes: attrs }, ctx);
      if (turn) chatTurn.set(span, turn);
      return span;
    },

    endChatSpan(span, r) {
      if (!span.isRecording()) return;
      if (r.requestModel) {
        span.setAttribute(GEN_AI.REQUEST_MODEL, r.requestModel);
        span.updateName(`chat ${r.requestModel}`);
      }
      if (r.stream !== undefined) span.setAttribute(GEN_AI.REQUEST_STREAM, r.stream);
      if (r.status) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, r.status);
      if (r.responseModel) span.setAttribute(GEN_AI.RESPONSE_MODEL, r.responseModel);
      if (r.responseId) span.setAttribute(GEN_AI.RESPONSE_ID, r.responseId);
      if (r.finishReasons?.length) span.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, r.finishReasons);
      if (r.timeToFirstChunkMs !== undefined) span.setAttribute(GEN_AI.RESPONSE_TIME_TO_FIRST_CHUNK, r.timeToFirstChunkMs / 1000);
      const u = r.usage;
      if (u) {
        span.setAttribute(GEN_AI.USAGE_INPUT_TOKENS, u.inputTokens);
        span.setAttribute(GEN_AI.USAGE_OUTPUT_TOKENS, u.outputTokens);
        if (u.cacheReadTokens) span.setAttribute(GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS, u.cacheReadTokens);
        if (u.cacheWriteTokens) span.setAttribute(GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS, u.cacheWriteTokens);
        if (u.reasoningTokens) span.setAttribute(GEN_AI.USAGE_REASONING_OUTPUT_TOKENS, u.reasoningTokens);
      }
      if (r.costUsd !== undefined) span.setAttribute(BERTH.COST_USD, r.costUsd);
      const failed = r.error !== undefined || (r.status !== undefined && (r.status === 0 || r.status >= 400));
      if (failed) {
        span.setAttribute(ATTR_ERROR_TYPE, r.errorType ?? (r.status ? String(r.status) : "_OTHER"));
        span.setStatus({ code: SpanStatusCode.ERROR, message: cut(r.error ?? `HTTP ${r.status}`) });
      }
      const turn = chatTurn.get(span);
      if (turn) {
        const t = turn.totals;
        t.calls++;
        if (u) {
          t.input += u.inputTokens;
          t.output += u.outputTokens;
          t.cacheRead += u.cacheReadTokens ?? 0;
          t.cacheWrite += u.cacheWriteTokens ?? 0;
          t.reasoning += u.reasoningTokens ?? 0;
        }
        if (r.costUsd) t.cost += r.costUsd;
        if (r.responseModel) t.models.add(r.responseModel);
      }
      span.end();
    },

    startToolSpan,
    endToolSpan,
    traceparentOf,
    forceFlush: () => settle(provider.forceFlush(), opts.shutdownTimeoutMs ?? SHUTDOWN_WAIT_MS, opts.logger),
    async shutdown() {
      for (const t of [...turns.values()]) t.end({ stopReason: "interrupted" });
      // An unreachable collector must not hold berth's shutdown (the exporter retries for ~10s).
      await settle(provider.shutdown(), opts.shutdownTimeoutMs ?? SHUTDOWN_WAIT_MS, opts.logger);
    },
  };
}
