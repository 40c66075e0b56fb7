import { describe, expect, it } from "vitest";
import { captureContentFromEnv, otlpConfigFromEnv } from "../../../src/telemetry/tracing/setup.js";

describe("tracing setup: configuration", () => {
  it("resolves the OTLP endpoint from the standard variables", () => {
    expect(otlpConfigFromEnv({})).toBeUndefined();
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toMatchObject({
      traces: { url: "http://collector:4318/v1/traces", protocol: "http/protobuf" },
      metrics: { url: "http://collector:4318/v1/metrics", protocol: "http/protobuf", intervalMs: 60_000 },
    });
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example.com/otlp/" })?.traces?.url).toBe("https://otlp.example.com/otlp/v1/traces");
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9999/x" })?.traces?.url).toBe("http://b:9999/x");
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toBeUndefined();
    const c = otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_EXPORTER_OTLP_HEADERS: "a=1,b=x%3Dy", OTEL_EXPORTER_OTLP_TRACES_HEADERS: "b=2" });
    expect(c?.traces?.headers).toEqual({ a: "1", b: "2" });
    expect(c?.metrics?.headers).toEqual({ a: "1", b: "x=y" });
    expect(c?.serviceName).toBe("berth");
    // Each signal on its own.
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m/v1/metrics" })).toMatchObject({ metrics: { url: "http://m/v1/metrics" } });
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m/v1/metrics" })?.traces).toBeUndefined();
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_METRICS_EXPORTER: "none" })?.metrics).toBeUndefined();
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_METRIC_EXPORT_INTERVAL: "500" })?.metrics?.intervalMs).toBe(500);
  });

  it("exports http/protobuf by default (the specification's default), http/json when asked; grpc falls back, saying so", () => {
    const proto = (env: NodeJS.ProcessEnv) => otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", ...env });
    expect(proto({})?.traces?.protocol).toBe("http/protobuf");
    expect(proto({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toMatchObject({ traces: { protocol: "http/json" }, metrics: { protocol: "http/json" } });
    expect(proto({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/protobuf" })).toMatchObject({ traces: { protocol: "http/json" }, metrics: { protocol: "http/protobuf" } });
    const warnings: string[] = [];
    const logger = { warn: (_o: object, m: string) => warnings.push(m) } as never;
    expect(otlpConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, logger)?.traces?.protocol).toBe("http/protobuf");
    expect(warnings[0]).toMatch(/grpc is not supported, using http\/protobuf/);
  });

  it("turns content capture on only when asked", () => {
    expect(captureContentFromEnv({})).toBe(false);
    expect(captureContentFromEnv({ BERTH_OTEL_CAPTURE_CONTENT: "1" })).toBe(true);
    expect(captureContentFromEnv({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" })).toBe(true);
    expect(captureContentFromEnv({ BERTH_OTEL_CAPTURE_CONTENT: "no" })).toBe(false);
  });
});
