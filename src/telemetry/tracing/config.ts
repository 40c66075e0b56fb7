// Whether tracing is on, from the standard OTEL_* variables alone: light enough for every
// start (the OpenTelemetry SDK is loaded only when this names an endpoint).

export type OtlpSignal = "traces" | "metrics";

/** The OTLP/HTTP traces URL the standard variables name, or undefined when tracing is off. */
export function otlpEndpoint(env: NodeJS.ProcessEnv, signal: OtlpSignal = "traces"): string | undefined {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return undefined;
  const SIGNAL = signal.toUpperCase();
  if ((env[`OTEL_${SIGNAL}_EXPORTER`] ?? "").trim().toLowerCase() === "none") return undefined;
  const specific = env[`OTEL_EXPORTER_OTLP_${SIGNAL}_ENDPOINT`]?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // The signal-specific URL is used as is; the base URL gets the signal path appended.
  const url = specific || (base ? `${base.replace(/\/+$/, "")}/v1/${signal}` : undefined);
  if (!url) return undefined;
  try {
    new URL(url);
  } catch {
    return undefined;
  }
  return url;
}

/** Whether prompts, outputs and tool arguments may be recorded (off unless asked for). */
export function captureContentFromEnv(env: NodeJS.ProcessEnv): boolean {
  const isOn = (v: string | undefined) => ["1", "true", "yes"].includes((v ?? "").trim().toLowerCase());
  // The GenAI instrumentations' conventional switch is honoured too.
  return isOn(env.BERTH_OTEL_CAPTURE_CONTENT) || isOn(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT);
}

/**
 * The OTLP encoding for a signal: `http/protobuf` (the specification's default) or
 * `http/json`, from OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL.
 * berth has no gRPC exporter: `grpc` (or anything unknown) falls back to http/protobuf,
 * and `asked` says what was asked for so the caller can warn.
 */
export function otlpProtocol(env: NodeJS.ProcessEnv, signal: OtlpSignal): { protocol: "http/protobuf" | "http/json"; asked?: string } {
  const raw = (env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`] ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim().toLowerCase();
  if (raw === "http/json") return { protocol: "http/json" };
  if (raw === "" || raw === "http/protobuf") return { protocol: "http/protobuf" };
  return { protocol: "http/protobuf", asked: raw };
}
