// The OpenTelemetry GenAI client metrics (semconv gen_ai.client.*): token usage and
// operation duration per model call through berth's gateway, exported over OTLP beside the
// spans. The buckets are the ones the semantic conventions advise.

import type { Attributes, Histogram, Meter } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import { GEN_AI, providerName } from "./attributes.js";
import type { ChatSpanResult } from "./types.js";

const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

export class GenAiMetrics {
  private readonly tokens: Histogram;
  private readonly duration: Histogram;

  constructor(meter: Meter) {
    this.tokens = meter.createHistogram("gen_ai.client.token.usage", {
      description: "Number of input and output tokens used",
      unit: "{token}",
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    this.duration = meter.createHistogram("gen_ai.client.operation.duration", {
      description: "GenAI operation duration",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
  }

  /** One model call: its duration, and its input and output tokens when the response carried usage. */
  record(call: { provider: string; requestModel?: string; seconds: number; result: ChatSpanResult; failed: boolean }): void {
    const attrs: Attributes = { [GEN_AI.OPERATION_NAME]: "chat", [GEN_AI.PROVIDER_NAME]: providerName(call.provider) };
    const requestModel = call.result.requestModel ?? call.requestModel;
    if (requestModel) attrs[GEN_AI.REQUEST_MODEL] = requestModel;
    if (call.result.responseModel) attrs[GEN_AI.RESPONSE_MODEL] = call.result.responseModel;
    this.duration.record(call.seconds, call.failed ? { ...attrs, [ATTR_ERROR_TYPE]: call.result.errorType ?? (call.result.status ? String(call.result.status) : "_OTHER") } : attrs);
    const u = call.result.usage;
    if (!u) return;
    this.tokens.record(u.inputTokens, { ...attrs, [GEN_AI.TOKEN_TYPE]: "input" });
    this.tokens.record(u.outputTokens, { ...attrs, [GEN_AI.TOKEN_TYPE]: "output" });
  }
}
