// The tracer and meter providers and their exporters: OTLP/HTTP (protobuf, or JSON) to the
// endpoints the standard OTEL_* variables name, every span redacted as it ends, export
// failures logged.

import { ExportResultCode, parseKeyPairsIntoRecord, type ExportResult } from "@opentelemetry/core";
import { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Redactor } from "../../secrets/redact.js";
import { captureContentFromEnv, otlpEndpoint, otlpProtocol, type OtlpSignal } from "./config.js";
import { RedactingSpanProcessor } from "./redaction.js";
import type { TracingOptions } from "./types.js";

/** Where and how one signal is exported. */
export interface OtlpTarget {
  url: string;
  protocol: "http/protobuf" | "http/json";
  headers: Record<string, string>;
}

export interface OtlpConfig {
  /** Spans; absent when only metrics are exported. */
  traces?: OtlpTarget;
  /** The GenAI client metrics; absent when only traces are. */
  metrics?: OtlpTarget & { intervalMs: number };
  serviceName: string;
  resourceAttributes: Record<string, string>;
}

function target(env: NodeJS.ProcessEnv, signal: OtlpSignal, logger?: TracingOptions["logger"]): OtlpTarget | undefined {
  const url = otlpEndpoint(env, signal);
  if (!url) return undefined;
  const { protocol, asked } = otlpProtocol(env, signal);
  if (asked) logger?.warn({ protocol: asked }, `berth exports ${signal} over OTLP/HTTP only; OTEL_EXPORTER_OTLP_PROTOCOL=${asked} is not supported, using http/protobuf`);
  const specific = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_HEADERS`];
  return { url, protocol, headers: { ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyPairsIntoRecord(specific) } };
}

/** The OTLP/HTTP endpoints and their settings from the standard variables, or undefined when both signals are off. */
export function otlpConfigFromEnv(env: NodeJS.ProcessEnv, logger?: TracingOptions["logger"]): OtlpConfig | undefined {
  const traces = target(env, "traces", logger);
  const metrics = target(env, "metrics", logger);
  if (!traces && !metrics) return undefined;
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  return {
    ...(traces ? { traces } : {}),
    ...(metrics ? { metrics: { ...metrics, intervalMs: Number.isInteger(interval) && interval > 0 ? interval : 60_000 } } : {}),
    serviceName: env.OTEL_SERVICE_NAME?.trim() || "berth",
    resourceAttributes: parseKeyPairsIntoRecord(env.OTEL_RESOURCE_ATTRIBUTES),
  };
}

export { captureContentFromEnv };

/** Reports failed exports to the logger, at most once a minute, with the error redacted. */
class ReportingExporter implements SpanExporter {
  private lastWarn = 0;
  constructor(
    private inner: SpanExporter,
    private url: string,
    private redactor: Redactor,
    private logger?: TracingOptions["logger"],
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS && this.logger && Date.now() - this.lastWarn > 60_000) {
        this.lastWarn = Date.now();
        this.logger.warn(
          { otlp: this.redactor.redact(this.url), spans: spans.length, error: this.redactor.redact(String(result.error?.message ?? result.error ?? "unknown")) },
          "OTLP trace export failed; spans dropped",
        );
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Exporter credentials (e.g. an API key header) are secrets like any other. */
function redactHeaders(t: OtlpTarget | undefined, redactor: Redactor): void {
  for (const value of Object.values(t?.headers ?? {})) {
    redactor.add(value);
    const scheme = /^\S+\s+(\S.*)$/.exec(value); // "Bearer <token>", "Basic <b64>", "Api-Key <key>"
    if (scheme) redactor.add(scheme[1]);
  }
}

const resourceOf = (cfg: OtlpConfig, opts: TracingOptions) =>
  defaultResource().merge(resourceFromAttributes({ ...cfg.resourceAttributes, [ATTR_SERVICE_NAME]: cfg.serviceName, [ATTR_SERVICE_VERSION]: opts.serviceVersion }));

/**
 * A provider exporting to `cfg.traces` (none: spans are made for the metrics' sake and
 * dropped), not registered globally: berth's spans come only from its own helpers.
 */
export function createTracerProvider(cfg: OtlpConfig, opts: TracingOptions): BasicTracerProvider {
  const { redactor } = opts;
  const t = cfg.traces;
  redactHeaders(t, redactor);
  if (!t) return new BasicTracerProvider({ resource: resourceOf(cfg, opts) });
  const inner = t.protocol === "http/json" ? new JsonTraceExporter({ url: t.url, headers: t.headers }) : new ProtoTraceExporter({ url: t.url, headers: t.headers });
  const exporter = new ReportingExporter(inner, t.url, redactor, opts.logger);
  return new BasicTracerProvider({
    resource: resourceOf(cfg, opts),
    spanProcessors: [new RedactingSpanProcessor(new BatchSpanProcessor(exporter, opts.batch), redactor)],
  });
}

/** A meter provider exporting to `cfg.metrics` every intervalMs, or undefined when metrics are off. */
export function createMeterProvider(cfg: OtlpConfig, opts: TracingOptions): MeterProvider | undefined {
  const m = cfg.metrics;
  if (!m) return undefined;
  redactHeaders(m, opts.redactor);
  const exporter = m.protocol === "http/json" ? new JsonMetricExporter({ url: m.url, headers: m.headers }) : new ProtoMetricExporter({ url: m.url, headers: m.headers });
  return new MeterProvider({
    resource: resourceOf(cfg, opts),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: m.intervalMs, exportTimeoutMillis: Math.min(30_000, m.intervalMs) })],
  });
}

/** How long shutdown() and forceFlush() wait for the exporter by default. */
export const SHUTDOWN_WAIT_MS = 5_000;

/** Waits for `p` at most `ms`; a failure is logged, never thrown. */
export async function settle(p: Promise<void>, ms: number, logger?: TracingOptions["logger"]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()))]);
  } catch (e) {
    logger?.warn({ error: String((e as Error)?.message ?? e) }, "OTLP trace flush failed");
  } finally {
    clearTimeout(timer);
  }
}
