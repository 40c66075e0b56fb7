// The tracer provider and its exporter: OTLP/HTTP (JSON) to the endpoint the standard
// OTEL_* variables name, every span redacted as it ends, export failures logged.

import { ExportResultCode, parseKeyPairsIntoRecord, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Redactor } from "../../secrets/redact.js";
import { captureContentFromEnv, otlpEndpoint } from "./config.js";
import { RedactingSpanProcessor } from "./redaction.js";
import type { TracingOptions } from "./types.js";

export interface OtlpConfig {
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
}

/** The OTLP/HTTP traces endpoint and its settings from the standard variables, or undefined when tracing is off. */
export function otlpConfigFromEnv(env: NodeJS.ProcessEnv): OtlpConfig | undefined {
  const url = otlpEndpoint(env);
  if (!url) return undefined;
  return {
    url,
    headers: { ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
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

/**
 * A provider exporting to `cfg`, not registered globally: berth's spans come only from
 * its own helpers. The exporter's credentials become secrets of the redactor.
 */
export function createTracerProvider(cfg: OtlpConfig, opts: TracingOptions): BasicTracerProvider {
  const { redactor } = opts;
  // Exporter credentials (e.g. an API key header) are secrets like any other.
  for (const value of Object.values(cfg.headers)) {
    redactor.add(value);
    const scheme = /^\S+\s+(\S.*)$/.exec(value); // "Bearer <token>", "Basic <b64>", "Api-Key <key>"
    if (scheme) redactor.add(scheme[1]);
  }
  const env = opts.env ?? process.env;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim();
  if (protocol === "grpc") opts.logger?.warn({ protocol }, "berth exports traces over OTLP/HTTP only; OTEL_EXPORTER_OTLP_PROTOCOL=grpc is ignored");

  const exporter = new ReportingExporter(new OTLPTraceExporter({ url: cfg.url, headers: cfg.headers }), cfg.url, redactor, opts.logger);
  return new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...cfg.resourceAttributes, [ATTR_SERVICE_NAME]: cfg.serviceName, [ATTR_SERVICE_VERSION]: opts.serviceVersion }),
    ),
    spanProcessors: [new RedactingSpanProcessor(new BatchSpanProcessor(exporter, opts.batch), redactor)],
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
