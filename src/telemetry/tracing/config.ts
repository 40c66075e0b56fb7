// Whether tracing is on, from the standard OTEL_* variables alone: light enough for every
// start (the OpenTelemetry SDK is loaded only when this names an endpoint).

/** The OTLP/HTTP traces URL the standard variables name, or undefined when tracing is off. */
export function otlpEndpoint(env: NodeJS.ProcessEnv): string | undefined {
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
  return url;
}

/** Whether prompts, outputs and tool arguments may be recorded (off unless asked for). */
export function captureContentFromEnv(env: NodeJS.ProcessEnv): boolean {
  const isOn = (v: string | undefined) => ["1", "true", "yes"].includes((v ?? "").trim().toLowerCase());
  // The GenAI instrumentations' conventional switch is honoured too.
  return isOn(env.BERTH_OTEL_CAPTURE_CONTENT) || isOn(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT);
}
