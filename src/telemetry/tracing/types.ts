// The tracing API berth's sessions and gateway use; the implementations are in this folder.

import type { Context, Span, Tracer } from "@opentelemetry/api";
import type { NewEvent } from "../../events/types.js";
import type { Redactor } from "../../secrets/redact.js";

/** What a turn span reads of a berth event. */
export type TurnEvent = Pick<NewEvent, "type" | "data">;

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

export interface TurnSpan {
  readonly span: Span;
  /** Parent context for this turn's children (chat and tool spans). */
  readonly ctx: Context;
  /** The turn span's W3C traceparent, or undefined when tracing is off. */
  readonly traceparent: string | undefined;
  /** Feed every normalised event of the turn: tool calls become execute_tool spans; with content capture, message text is kept for the output. */
  onEvent(event: TurnEvent): void;
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

/** A session's start, for its trace (telemetry/tracing/start-spans.ts); times in epoch ms. */
export interface SessionStartInput {
  sessionId: string;
  harness: string;
  model: string;
  tier: string;
  pool: "hit" | "miss";
  start: number;
  end: number;
  phases: { name: string; start: number; end: number }[];
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
  /** Records a session's start and its phases (after the fact, with their own times). */
  sessionStart(input: SessionStartInput): void;
  /** Records the first turn's wait for its first model byte under that turn's span. */
  firstModelByte(sessionId: string, start: number, end: number): void;
  /** W3C traceparent of a span, e.g. to hand to an upstream or return to a client. */
  traceparentOf(span: Span): string | undefined;
  forceFlush(): Promise<void>;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}
