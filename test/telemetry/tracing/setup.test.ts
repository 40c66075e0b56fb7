import { describe, expect, it } from "vitest";
import { captureContentFromEnv, otlpConfigFromEnv } from "../../../src/telemetry/tracing/setup.js";

describe("tracing setup: configuration", () => {
  it("resolves the OTLP endpoint from the standard variables", () => {
    expect(otlpConfigFromEnv({})).toBeUndefined();
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })?.url).toBe("http://collector:4318/v1/traces");
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example.com/otlp/" })?.url).toBe("https://otlp.example.com/otlp/v1/traces");
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9999/x" })?.url).toBe("http://b:9999/x");
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toBeUndefined();
    const c = otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_EXPORTER_OTLP_HEADERS: "a=1,b=x%3Dy", OTEL_EXPORTER_OTLP_TRACES_HEADERS: "b=2" });
    expect(c?.headers).toEqual({ a: "1", b: "2" });
    expect(c?.serviceName).toBe("berth");
  });

  it("turns content capture on only when asked", () => {
    expect(captureContentFromEnv({})).toBe(false);
    expect(captureContentFromEnv({ BERTH_OTEL_CAPTURE_CONTENT: "1" })).toBe(true);
    expect(captureContentFromEnv({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" })).toBe(true);
    expect(captureContentFromEnv({ BERTH_OTEL_CAPTURE_CONTENT: "no" })).toBe(false);
  });
});
