// OpenTelemetry tracing for berth (docs/design.md, decision 8): one `invoke_agent {harness}`
// span per turn, parented to the W3C traceparent of the request that posted the turn,
// with `chat {model}` children from the model gateway and `execute_tool {name}` children
// from the turn's tool calls, all carrying GenAI semantic-convention attributes
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/, semconv 1.45 / semantic-conventions-genai),
// and one `invoke_agent {harness}` span per session start with its phases as children.
//
// Configuration is the standard OTEL_* environment only. With no OTLP endpoint (or with
// OTEL_SDK_DISABLED=true) nothing is created, and the SDK is never loaded: every helper
// returns a shared no-op object. Every string a span carries passes the redactor when the
// span ends, before it is queued for export, while the secrets it must hide are still registered.

import { otlpEndpoint } from "./tracing/config.js";
import { noopTracing } from "./tracing/noop.js";
import type { Tracing, TracingOptions } from "./tracing/types.js";

export { BERTH, EVENT_INFERENCE_DETAILS, GEN_AI, providerName } from "./tracing/attributes.js";
export { noopTracing } from "./tracing/noop.js";
export type * from "./tracing/types.js";

/**
 * Tracing per the environment: OTLP/HTTP (protobuf by default, JSON with
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
 * OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, with OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME
 * and OTEL_RESOURCE_ATTRIBUTES; the GenAI client metrics likewise to /v1/metrics. Off
 * (no-op) without an endpoint or with OTEL_SDK_DISABLED=true.
 */
export async function createTracing(opts: TracingOptions): Promise<Tracing> {
  const env = opts.env ?? process.env;
  if (!otlpEndpoint(env, "traces") && !otlpEndpoint(env, "metrics")) return noopTracing();
  const { createOtlpTracing } = await import("./tracing/otlp.js");
  return createOtlpTracing(opts) ?? noopTracing();
}
