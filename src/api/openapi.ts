import { jsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import type { FastifyDynamicSwaggerOptions } from "@fastify/swagger";

// The OpenAPI document's frame (info, servers, tags, security) and what a route schema
// cannot say through zod: the events route's second media type, the headers routes read,
// and the error responses every /v1 route shares. Checked with `redocly lint` in the tests.

type Doc = {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};
type Operation = {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: { nullable?: boolean; allOf?: unknown[]; type?: string; format?: string } }> };
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
};
type Parameter = { in: string; name: string; required?: boolean; description?: string; schema: object };

const ERROR_REF = { $ref: "#/components/schemas/Error" };
const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ERROR_REF } } });

/** Responses any /v1 route can give, whatever it does. */
const SHARED_ERRORS: Record<string, ReturnType<typeof errorResponse>> = {
  "400": errorResponse("Invalid request (code says which part)"),
  "401": errorResponse("Missing or wrong bearer token"),
  "421": errorResponse("The Host header names another server (DNS rebinding guard)"),
  "503": errorResponse("The server could not recover from its previous run"),
};

const TRACE_HEADERS: Parameter[] = [
  { in: "header", name: "traceparent", description: "W3C Trace Context: the turn's spans join the caller's trace", schema: { type: "string" } },
  { in: "header", name: "tracestate", description: "W3C Trace Context vendor state, with traceparent", schema: { type: "string" } },
];

/** Headers a route reads, by operationId. */
const HEADERS: Record<string, Parameter[]> = {
  postTurn: [
    { in: "header", name: "Idempotency-Key", description: "A retried POST with the same key returns the turn it created (200) instead of a new one", schema: { type: "string", maxLength: 200 } },
    ...TRACE_HEADERS,
  ],
  readFile: [{ in: "header", name: "Range", description: "bytes=START-END or bytes=START-: part of the file (206)", schema: { type: "string", pattern: "^bytes=[0-9]+-[0-9]*$" } }],
  getEvents: [
    {
      in: "header",
      name: "Last-Event-ID",
      description: "Resume after this sequence number (what EventSource sends on reconnect); takes precedence over ?after=",
      schema: { type: "string", pattern: "^[0-9]+$" },
    },
  ],
};

const BINARY = { type: "string", format: "binary" } as const;
const TAR_TYPES = ["application/x-tar", "application/gzip"];

/** Routes whose bodies are bytes, not JSON (the files API): request and response media types, by operationId. */
const BINARY_BODIES: Record<string, { request?: string[]; responses?: Record<string, { types: string[]; description: string }> }> = {
  readFile: {
    responses: {
      "200": { types: ["application/octet-stream"], description: "The whole file" },
      "206": { types: ["application/octet-stream"], description: "The range asked for (Content-Range says which)" },
    },
  },
  writeFile: { request: ["application/octet-stream"] },
  downloadArchive: { responses: { "200": { types: ["application/x-tar"], description: "The directory's contents, as a tar stream" } } },
  uploadArchive: { request: TAR_TYPES },
};

const SSE_DESCRIPTION =
  "Server-sent events. Each: `id: <seq>`, `event: <type>`, `data: <Event as JSON>`. Replays stored events after the cursor, then follows live; the stream ends after an ended session's last event. Reconnect with Last-Event-ID to continue exactly where it broke.";

export function swaggerOptions(version: string, publicUrl?: string): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "berth",
        description: "Agent runner sidecar: coding agents (Claude Code, Pi, Codex, Gemini CLI, OpenCode) as durable sessions in sandboxes, behind one HTTP API.",
        version,
        license: { name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
      },
      servers: [{ url: publicUrl ?? "http://127.0.0.1:8765", description: publicUrl ? "This server (BERTH_PUBLIC_URL)" : "berth serve's default address" }],
      tags: [
        { name: "sessions", description: "Create, inspect, resume and end sessions" },
        { name: "turns", description: "Prompts, cancellation and permission answers" },
        { name: "events", description: "A session's durable event log, as SSE or JSON pages" },
        { name: "files", description: "A session's workspace: list, read, write, archives in and out" },
        { name: "harnesses", description: "The agents berth can run" },
      ],
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "BERTH_TOKEN, or the token `berth serve` created in $BERTH_HOME/token" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => finishDocument(jsonSchemaTransformObject(input) as Doc) as ReturnType<typeof jsonSchemaTransformObject>,
  };
}

/** What the route schemas cannot express (see the file's head). */
export function finishDocument<D extends Doc>(doc: D): D {
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith("/v1/")) continue;
    for (const op of Object.values(ops) as (Operation & { operationId?: string })[]) {
      op.responses ??= {};
      for (const [code, r] of Object.entries(SHARED_ERRORS)) op.responses[code] ??= r;
      // zod-generated error responses are inline copies of the Error schema: point them at the component.
      for (const [code, r] of Object.entries(op.responses))
        if (/^[45]/.test(code) && r.content?.["application/json"]) r.content["application/json"] = { schema: ERROR_REF };
      // An optional body (zod's nullish) is written as a nullable allOf; OpenAPI says it with required: false.
      const body = op.requestBody?.content?.["application/json"];
      if (body?.schema?.nullable && body.schema.allOf?.length === 1) {
        body.schema = body.schema.allOf[0] as typeof body.schema;
        op.requestBody!.required = false;
      }
      const headers = HEADERS[op.operationId ?? ""];
      if (headers) op.parameters = [...(op.parameters ?? []).filter((p) => p.in !== "header"), ...headers];
      const binary = BINARY_BODIES[op.operationId ?? ""];
      if (binary?.request) op.requestBody = { required: true, content: Object.fromEntries(binary.request.map((t) => [t, { schema: { ...BINARY } }])) };
      for (const [code, r] of Object.entries(binary?.responses ?? {}))
        op.responses[code] = { description: r.description, content: Object.fromEntries(r.types.map((t) => [t, { schema: { ...BINARY } }])) };
      if (op.operationId === "getEvents") {
        const ok = op.responses["200"]!;
        ok.description = "A page of stored events (JSON), or the live stream (text/event-stream), by the Accept header";
        ok.content = { ...ok.content, "text/event-stream": { schema: { type: "string", description: SSE_DESCRIPTION } } };
        op.responses["204"] = { description: "The session has ended and nothing is left after the cursor (EventSource stops on 204)" };
      }
    }
  }
  dropUnused(doc);
  nameInputs(doc);
  discriminate(doc);
  return doc;
}

/** A request-only schema is written as `<id>Input`; with no output form beside it, it takes the plain name. */
function nameInputs(doc: Doc): void {
  const schemas = doc.components?.schemas;
  if (!schemas) return;
  const renames = new Map<string, string>();
  for (const name of Object.keys(schemas)) {
    const plain = name.replace(/Input$/, "");
    if (plain !== name && !(plain in schemas)) renames.set(name, plain);
  }
  for (const [from, to] of renames) {
    schemas[to] = schemas[from];
    delete schemas[from];
  }
  const rewrite = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(rewrite);
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      const ref = k === "$ref" && typeof v === "string" ? /^#\/components\/schemas\/(.+)$/.exec(v) : null;
      if (ref && renames.has(ref[1]!)) o[k] = `#/components/schemas/${renames.get(ref[1]!)}`;
      else rewrite(v);
    }
  };
  rewrite(doc);
}

/** The Event union says which `type` selects which variant, for generators that build tagged unions. */
function discriminate(doc: Doc): void {
  const schemas = (doc.components?.schemas ?? {}) as Record<string, { oneOf?: { $ref?: string }[]; discriminator?: object; properties?: { type?: { enum?: string[] } } }>;
  const event = schemas.Event;
  if (!event?.oneOf) return;
  const mapping: Record<string, string> = {};
  for (const v of event.oneOf) {
    const name = v.$ref?.split("/").pop();
    const type = name ? schemas[name]?.properties?.type?.enum?.[0] : undefined;
    if (type) mapping[type] = v.$ref!;
  }
  event.discriminator = { propertyName: "type", mapping };
}

/**
 * The zod transform writes an input and an output form of every named schema; only the
 * forms the paths reach (directly or through other components) stay.
 */
function dropUnused(doc: Doc): void {
  const schemas = doc.components?.schemas;
  if (!schemas) return;
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")) {
        const name = v.slice("#/components/schemas/".length);
        if (!used.has(name)) {
          used.add(name);
          visit(schemas[name]);
        }
      } else visit(v);
    }
  };
  visit(doc.paths);
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
}
