import type { IncomingHttpHeaders } from "node:http";
import type { ModelApi } from "../wire/apis.js";
import type { Redactor } from "../secrets/redact.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing } from "../telemetry/tracing.js";
import { computeCost, type ModelPrice } from "../wire/usage/cost.js";
import { createUsageTap } from "../wire/usage/tap.js";
import type { ModelUsage, UsageTap } from "../wire/usage/types.js";

export interface ModelCallRecord {
  sessionId: string;
  provider: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  error?: string;
  /** The model the request named (body `model`, or the Gemini path). */
  model?: string;
  responseModel?: string;
  /** Token usage the response reported (absent when it reported none). */
  usage?: Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens" | "reasoningTokens">;
  finishReasons?: string[];
  costUsd?: number;
  ttfbMs?: number;
}

/** The usage an admitted call reported when it ended, or undefined (failure, abort, no usage). */
export interface CallUsage {
  tokens: number;
  costUsd?: number;
}

/** One forwarded call, as the meter needs to know it. */
export interface MeteredCall {
  sessionId: string;
  provider: string;
  method: string;
  target: URL;
  /** The wire API of a model call (traced, usage read); undefined for token counting. */
  api?: ModelApi;
  model?: string;
  stream?: boolean;
  /** The session's price for its (pinned) model. */
  price?: ModelPrice;
}

export interface MeterSinks {
  redactor: Redactor;
  tracing?: Tracing;
  metrics?: Metrics;
  /** The session's call record (its scope's onCall). */
  onCall?(rec: ModelCallRecord): void;
  /** Settles the call's budget reservation with what it used. */
  settle(usage: CallUsage | undefined): void;
}

/**
 * Meters one model call: its chat span, its usage read from the response as it streams,
 * its cost, metrics and the session's call record, and the budget settlement, exactly once
 * however the call ends (response end, stream error, client abort, upstream failure).
 */
export class CallMeter {
  private readonly started = Date.now();
  private readonly span;
  private tap: UsageTap | undefined;
  private ttfbMs: number | undefined;
  private ended = false;

  constructor(
    private readonly call: MeteredCall,
    private readonly sinks: MeterSinks,
  ) {
    const { tracing } = sinks;
    this.span =
      call.api && tracing?.enabled
        ? tracing.startChatSpan(undefined, { provider: call.provider, api: call.api, sessionId: call.sessionId, serverUrl: call.target, requestModel: call.model })
        : undefined;
  }

  /** The response's headers are in: time to first byte, and a usage reader for a model call's body (feed it each chunk). */
  responded(headers: IncomingHttpHeaders): ((chunk: Buffer) => void) | undefined {
    this.ttfbMs = Date.now() - this.started;
    if (!this.call.api) return undefined;
    const tap = createUsageTap(this.call.api, headerValue(headers["content-type"]), headerValue(headers["content-encoding"]));
    this.tap = tap;
    return (chunk) => tap.write(chunk);
  }

  end(status: number, error?: string): void {
    if (this.ended) return;
    this.ended = true;
    const { call, sinks } = this;
    const durationMs = Date.now() - this.started;
    const u = this.tap?.end();
    const usage = u?.reported ? u : undefined;
    const costUsd = usage ? computeCost(usage, call.price) : undefined;
    const err = error ? sinks.redactor.redact(error) : u?.streamError ? `error in the response stream: ${u.streamError}` : undefined;
    const ttfbMs = this.ttfbMs;
    if (this.span)
      sinks.tracing!.endChatSpan(this.span, {
        status,
        requestModel: call.model,
        stream: call.stream,
        responseModel: u?.responseModel,
        responseId: u?.responseId,
        usage,
        finishReasons: u?.finishReasons,
        error: err,
        errorType: !error && u?.streamError ? u.streamError : undefined,
        timeToFirstChunkMs: ttfbMs,
        costUsd,
      });
    if (call.api) sinks.metrics?.recordModelCall({ provider: call.provider, status, usage, costUsd, ttfbMs, totalMs: durationMs });
    sinks.onCall?.({
      sessionId: call.sessionId,
      provider: call.provider,
      method: call.method,
      path: call.target.pathname,
      status,
      durationMs,
      error: err,
      ...(call.model ? { model: call.model } : {}),
      ...(u?.responseModel ? { responseModel: u.responseModel } : {}),
      ...(usage
        ? {
            usage: {
              inputTokens: usage.inputTokens,
              outputTokens: usage.outputTokens,
              cacheReadTokens: usage.cacheReadTokens,
              cacheWriteTokens: usage.cacheWriteTokens,
              ...(usage.reasoningTokens !== undefined ? { reasoningTokens: usage.reasoningTokens } : {}),
            },
          }
        : {}),
      ...(u?.finishReasons ? { finishReasons: u.finishReasons } : {}),
      ...(costUsd !== undefined ? { costUsd } : {}),
      ...(ttfbMs !== undefined ? { ttfbMs } : {}),
    });
    // After the model.call event, so a breach's error event follows the call that caused it.
    sinks.settle(usage ? { tokens: usage.inputTokens + usage.outputTokens, ...(costUsd !== undefined ? { costUsd } : {}) } : undefined);
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
