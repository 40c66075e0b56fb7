// `chat {model}` spans: one per model call through berth's gateway, a child of the turn
// that made it, whose usage it adds to the turn's totals.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from "@opentelemetry/semantic-conventions";
import { BERTH, GEN_AI, providerName } from "./attributes.js";
import { truncateContent } from "./content.js";
import type { GenAiMetrics } from "./genai-metrics.js";
import type { RecordingTurnSpan, RunningTurns } from "./turn-spans.js";
import type { ChatSpanInput, ChatSpanResult } from "./types.js";

/** server.address and server.port of an upstream URL; none when it is not a URL. */
function serverAttributes(serverUrl: string | URL): Attributes {
  try {
    const url = typeof serverUrl === "string" ? new URL(serverUrl) : serverUrl;
    return {
      [ATTR_SERVER_ADDRESS]: url.hostname.replace(/^\[|\]$/g, ""),
      [ATTR_SERVER_PORT]: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
    };
  } catch {
    return {};
  }
}

export class ModelSpans {
  /** The turn each chat span counts towards. */
  private readonly turnOfSpan = new WeakMap<Span, RecordingTurnSpan>();
  /** For the duration metric: when, and through which provider, each call started. */
  private readonly started = new WeakMap<Span, { at: number; provider: string; requestModel?: string }>();

  constructor(
    private readonly tracer: Tracer,
    private readonly turns: RunningTurns,
    private readonly metrics?: GenAiMetrics,
  ) {}

  start(parent: Context | undefined, input: ChatSpanInput): Span {
    const turn = parent ? this.turns.ofContext(parent) : input.sessionId ? this.turns.ofSession(input.sessionId) : undefined;
    const ctx = parent ?? turn?.ctx ?? ROOT_CONTEXT;
    const attributes: Attributes = {
      [GEN_AI.OPERATION_NAME]: "chat",
      [GEN_AI.PROVIDER_NAME]: providerName(input.provider),
      [BERTH.PROVIDER]: input.provider,
    };
    if (input.requestModel) attributes[GEN_AI.REQUEST_MODEL] = input.requestModel;
    if (input.api) attributes[BERTH.API] = input.api;
    if (input.sessionId) attributes[GEN_AI.CONVERSATION_ID] = input.sessionId;
    if (input.stream !== undefined) attributes[GEN_AI.REQUEST_STREAM] = input.stream;
    if (input.serverUrl) Object.assign(attributes, serverAttributes(input.serverUrl));
    const span = this.tracer.startSpan(input.requestModel ? `chat ${input.requestModel}` : "chat", { kind: SpanKind.CLIENT, attributes }, ctx);
    if (turn) this.turnOfSpan.set(span, turn);
    if (this.metrics) this.started.set(span, { at: performance.now(), provider: input.provider, ...(input.requestModel ? { requestModel: input.requestModel } : {}) });
    return span;
  }

  end(span: Span, result: ChatSpanResult): void {
    const start = this.started.get(span);
    if (start) {
      this.started.delete(span);
      const failed = result.error !== undefined || (result.status !== undefined && (result.status === 0 || result.status >= 400));
      this.metrics!.record({ ...start, seconds: (performance.now() - start.at) / 1000, result, failed });
    }
    if (!span.isRecording()) return;
    if (result.requestModel) {
      span.setAttribute(GEN_AI.REQUEST_MODEL, result.requestModel);
      span.updateName(`chat ${result.requestModel}`);
    }
    if (result.stream !== undefined) span.setAttribute(GEN_AI.REQUEST_STREAM, result.stream);
    if (result.status) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, result.status);
    if (result.responseModel) span.setAttribute(GEN_AI.RESPONSE_MODEL, result.responseModel);
    if (result.responseId) span.setAttribute(GEN_AI.RESPONSE_ID, result.responseId);
    if (result.finishReasons?.length) span.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, result.finishReasons);
    if (result.timeToFirstChunkMs !== undefined) span.setAttribute(GEN_AI.RESPONSE_TIME_TO_FIRST_CHUNK, result.timeToFirstChunkMs / 1000);
    const usage = result.usage;
    if (usage) {
      span.setAttribute(GEN_AI.USAGE_INPUT_TOKENS, usage.inputTokens);
      span.setAttribute(GEN_AI.USAGE_OUTPUT_TOKENS, usage.outputTokens);
      if (usage.cacheReadTokens) span.setAttribute(GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS, usage.cacheReadTokens);
      if (usage.cacheWriteTokens) span.setAttribute(GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cacheWriteTokens);
      if (usage.reasoningTokens) span.setAttribute(GEN_AI.USAGE_REASONING_OUTPUT_TOKENS, usage.reasoningTokens);
    }
    if (result.costUsd !== undefined) span.setAttribute(BERTH.COST_USD, result.costUsd);
    const failed = result.error !== undefined || (result.status !== undefined && (result.status === 0 || result.status >= 400));
    if (failed) {
      span.setAttribute(ATTR_ERROR_TYPE, result.errorType ?? (result.status ? String(result.status) : "_OTHER"));
      span.setStatus({ code: SpanStatusCode.ERROR, message: truncateContent(result.error ?? `HTTP ${result.status}`) });
    }
    this.turnOfSpan.get(span)?.addModelCall(usage, result.costUsd, result.responseModel);
    span.end();
  }
}
