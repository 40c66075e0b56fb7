import http from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import protobuf from "protobufjs";

// A real OTLP/HTTP receiver on loopback, for the tracing tests (unit and e2e): it accepts
// both encodings the specification defines, http/protobuf (decoded with protobufjs from the
// message definitions of opentelemetry-proto, the fields berth sends) and http/json, and
// hands the tests one shape: the OTLP/JSON mapping (camelCase, hex ids).

const KeyValue = { fields: { key: { type: "string", id: 1 }, value: { type: "AnyValue", id: 2 } } };
const AnyValue = {
  oneofs: { value: { oneof: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"] } },
  fields: {
    stringValue: { type: "string", id: 1 },
    boolValue: { type: "bool", id: 2 },
    intValue: { type: "int64", id: 3 },
    doubleValue: { type: "double", id: 4 },
    arrayValue: { type: "ArrayValue", id: 5 },
    kvlistValue: { type: "KeyValueList", id: 6 },
    bytesValue: { type: "bytes", id: 7 },
  },
};
const attributes = (id: number) => ({ rule: "repeated", type: "KeyValue", id });
const root = protobuf.Root.fromJSON({
  nested: {
    KeyValue,
    AnyValue,
    ArrayValue: { fields: { values: { rule: "repeated", type: "AnyValue", id: 1 } } },
    KeyValueList: { fields: { values: attributes(1) } },
    Resource: { fields: { attributes: attributes(1) } },
    InstrumentationScope: { fields: { name: { type: "string", id: 1 }, version: { type: "string", id: 2 }, attributes: attributes(3) } },
    Status: { fields: { message: { type: "string", id: 2 }, code: { type: "int32", id: 3 } } },
    SpanEvent: { fields: { timeUnixNano: { type: "fixed64", id: 1 }, name: { type: "string", id: 2 }, attributes: attributes(3) } },
    Span: {
      fields: {
        traceId: { type: "bytes", id: 1 },
        spanId: { type: "bytes", id: 2 },
        traceState: { type: "string", id: 3 },
        parentSpanId: { type: "bytes", id: 4 },
        name: { type: "string", id: 5 },
        kind: { type: "int32", id: 6 },
        startTimeUnixNano: { type: "fixed64", id: 7 },
        endTimeUnixNano: { type: "fixed64", id: 8 },
        attributes: attributes(9),
        events: { rule: "repeated", type: "SpanEvent", id: 11 },
        status: { type: "Status", id: 15 },
        flags: { type: "fixed32", id: 16 },
      },
    },
    ScopeSpans: { fields: { scope: { type: "InstrumentationScope", id: 1 }, spans: { rule: "repeated", type: "Span", id: 2 } } },
    ResourceSpans: { fields: { resource: { type: "Resource", id: 1 }, scopeSpans: { rule: "repeated", type: "ScopeSpans", id: 2 } } },
    ExportTraceServiceRequest: { fields: { resourceSpans: { rule: "repeated", type: "ResourceSpans", id: 1 } } },
    HistogramDataPoint: {
      fields: {
        startTimeUnixNano: { type: "fixed64", id: 2 },
        timeUnixNano: { type: "fixed64", id: 3 },
        count: { type: "fixed64", id: 4 },
        sum: { type: "double", id: 5 },
        bucketCounts: { rule: "repeated", type: "fixed64", id: 6 },
        explicitBounds: { rule: "repeated", type: "double", id: 7 },
        attributes: attributes(9),
      },
    },
    Histogram: { fields: { dataPoints: { rule: "repeated", type: "HistogramDataPoint", id: 1 }, aggregationTemporality: { type: "int32", id: 2 } } },
    Metric: { fields: { name: { type: "string", id: 1 }, description: { type: "string", id: 2 }, unit: { type: "string", id: 3 }, histogram: { type: "Histogram", id: 9 } } },
    ScopeMetrics: { fields: { scope: { type: "InstrumentationScope", id: 1 }, metrics: { rule: "repeated", type: "Metric", id: 2 } } },
    ResourceMetrics: { fields: { resource: { type: "Resource", id: 1 }, scopeMetrics: { rule: "repeated", type: "ScopeMetrics", id: 2 } } },
    ExportMetricsServiceRequest: { fields: { resourceMetrics: { rule: "repeated", type: "ResourceMetrics", id: 1 } } },
  },
});
const TRACES = root.lookupType("ExportTraceServiceRequest");
const METRICS = root.lookupType("ExportMetricsServiceRequest");

/** OTLP/JSON writes trace and span ids as hex; protobufjs gives bytes. */
function hexIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(hexIds);
  if (!node || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, /^(traceId|spanId|parentSpanId)$/.test(k) && v instanceof Uint8Array ? Buffer.from(v).toString("hex") : hexIds(v)]),
  );
}

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** application/x-protobuf or application/json */
  encoding: "protobuf" | "json";
  /** The body as received (protobuf as latin1), for "this secret never left" checks. */
  raw: string;
  body: any;
}

export interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let buf = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") buf = gunzipSync(buf);
      const type = String(req.headers["content-type"] ?? "").split(";")[0]!.trim();
      // By path: /v1/metrics, or any other URL a signal-specific endpoint names (traces).
      const message = /metrics$/.test(req.url ?? "") ? METRICS : TRACES;
      if (req.method !== "POST") return void res.writeHead(405).end();
      if (type === "application/json") {
        const raw = buf.toString("utf8");
        received.push({ path: req.url!, headers: req.headers, encoding: "json", raw, body: JSON.parse(raw) });
        return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      }
      if (type === "application/x-protobuf") {
        const decoded = message.toObject(message.decode(buf), { longs: String, enums: Number, defaults: false, arrays: false });
        received.push({ path: req.url!, headers: req.headers, encoding: "protobuf", raw: buf.toString("latin1"), body: hexIds(decoded) });
        return void res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      }
      res.writeHead(415).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Every span received, with its resource's attributes. */
export function spansOf(r: Receiver): { span: any; resource: any[] }[] {
  return r.received
    .filter((q) => !q.path.endsWith("/metrics"))
    .flatMap((q) => (q.body.resourceSpans ?? []).flatMap((rs: any) => (rs.scopeSpans ?? []).flatMap((ss: any) => (ss.spans ?? []).map((span: any) => ({ span, resource: rs.resource?.attributes ?? [] })))));
}

/** Every histogram data point received for metric `name`. */
export function histogramPoints(r: Receiver, name: string): { attributes: any[]; count: string | number; sum?: number }[] {
  return r.received
    .filter((q) => q.path === "/v1/metrics")
    .flatMap((q) => (q.body.resourceMetrics ?? []).flatMap((rm: any) => (rm.scopeMetrics ?? []).flatMap((sm: any) => sm.metrics ?? [])))
    .filter((m: any) => m.name === name)
    .flatMap((m: any) => m.histogram?.dataPoints ?? []);
}
