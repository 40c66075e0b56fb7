import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import fastifySwagger from "@fastify/swagger";
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { z } from "zod";
import type { EventLog } from "../events/log.js";
import type { HarnessInstaller } from "../harnesses/installer.js";
import { readCapabilities } from "../harnesses/capabilities.js";
import { HARNESSES } from "../harnesses/registry.js";
import type { Redactor } from "../secrets/redact.js";
import type { SessionManager } from "../sessions/manager.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { SessionRecord, TurnRecord } from "../sessions/types.js";
import type { SessionState } from "../events/types.js";
import {
  CreateSessionRequest,
  PermissionAnswerRequest,
  PostTurnRequest,
  ResumeRequest,
  ForkRequest,
  SessionView,
  TurnView,
} from "../sessions/contract.js";
import { toSessionView, toTurnView } from "../sessions/views.js";
import { MIN_TOKEN_LENGTH } from "../config/config.js";
import { BerthError } from "../util/errors.js";
import { ConformanceReport, ErrorBody, EventPage, EventsQuery, Harness, ListSessionsQuery, PermissionParams, Provider, SessionParams, TurnDiff, TurnParams } from "./schemas.js";
import type { ProviderListing } from "../providers/registry.js";
import type { RecordedReport } from "../sandboxes/conformance-record.js";
import { registerConsole } from "./console.js";
import { swaggerOptions } from "./openapi.js";
import { frameworkError, onClientError, onFrameworkError, sendError } from "./error-shape.js";
import { hostAllowlist } from "./host-check.js";
import { HTTP_LIMIT_DEFAULTS, serverOptions, type HttpLimits } from "./http-limits.js";
import { eventCursor } from "./event-cursor.js";
import { parseSessionCursor, sessionCursor } from "./session-cursor.js";
import { streamEvents } from "./sse.js";
import { registerFileRoutes, type FilesDeps } from "./files.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ApiDeps {
  manager: SessionManager;
  events: EventLog;
  installer: HarnessInstaller;
  redactor: Redactor;
  logger: Logger;
  apiToken: string;
  /** Readiness: null when ready, else why not. */
  notReady(): Promise<string | null>;
  version: string;
  metrics?: Metrics;
  /** Whether a request's Host header names this server (DNS rebinding); default: loopback names only. */
  hostAllowed?: (host: string | undefined) => boolean;
  /** Timeouts and the connection cap (default HTTP_LIMIT_DEFAULTS). */
  limits?: HttpLimits;
  /**
   * Settles once the previous run's leftovers are reaped and its sessions marked interrupted:
   * the server listens (and answers /health) meanwhile, and /v1 requests wait for it.
   */
  recovered?: Promise<void>;
  /** The provider registry's routes (GET /v1/providers). */
  providers?: () => ProviderListing[];
  /** Each tier's latest `berth conformance` report (GET /v1/conformance). */
  conformance?: () => RecordedReport[];
  /** The files API's spool directory and upload limits (default: under the OS temp dir, 1 GiB, 100k entries). */
  files?: Omit<FilesDeps, "manager">;
  /** Where the built console is (dist/console); served at /ui/ when it holds a build. */
  consoleDir?: string;
  /** BERTH_PUBLIC_URL: the document's server URL. */
  publicUrl?: string;
  /** The HTTP server to use instead of Fastify's own (Fastify's serverFactory): it gets Fastify's request handler. */
  serverFactory?: (handler: (req: IncomingMessage, res: ServerResponse) => void) => Server;
}

// Per route, the errors it can give besides those every /v1 route shares (api/openapi.ts).
const notFound = { 404: ErrorBody.describe("No such session (or permission request)") };
const conflict = { 409: ErrorBody.describe("Not possible in the session's current state (code says why)") };

export async function buildApi(d: ApiDeps): Promise<FastifyInstance<any, any, any, any, any>> {
  const limits = d.limits ?? HTTP_LIMIT_DEFAULTS;
  const app = Fastify({
    loggerInstance: d.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
    // Bounds receiving a request only; an SSE response streams on once its request is in.
    ...serverOptions(limits),
    // `berth serve` hands over a socket that already listens (api/front-door.ts), with these limits.
    ...(d.serverFactory ? { serverFactory: d.serverFactory } : {}),
    clientErrorHandler: onClientError,
    frameworkErrors: onFrameworkError,
  }).withTypeProvider<ZodTypeProvider>();
  app.server.maxConnections = limits.maxConnections;
  // Routes without a body (resume, cancel, DELETE) get clients that always send
  // Content-Type: application/json; an empty body is no body, not a parse error.
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) =>
    (body as string).trim() === "" ? done(null, undefined) : json(req, body as string, done),
  );
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(fastifySwagger, swaggerOptions(d.version, d.publicUrl));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof BerthError) return sendError(reply, err.status, err.code, d.redactor.redact(err.message));
    if (hasZodFastifySchemaValidationErrors(err)) {
      const msg = err.validation
        .map((v) => `${v.instancePath || (v.params as any)?.issue?.path?.join(".") || "body"}: ${v.message}`)
        .join("; ");
      return sendError(reply, 400, "invalid_request", d.redactor.redact(`invalid ${err.validationContext ?? "request"}: ${msg}`));
    }
    const client = frameworkError(err);
    if (client) return sendError(reply, client[0], client[1], client[2]);
    req.log.error({ err: { message: d.redactor.redact(String(err.message)), code: err.code } }, "unhandled error");
    return sendError(reply, 500, "internal_error", "internal error; see the server log");
  });
  // The path is the caller's: redacted (a token pasted into a URL is not echoed) and cut short.
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, "not_found", d.redactor.redact(`no route ${req.method} ${req.url.split("?")[0]!.slice(0, 200)}; see /openapi.json`)),
  );

  // Before anything else, on every route (404s and /health included).
  const hostAllowed = d.hostAllowed ?? hostAllowlist("127.0.0.1");
  app.addHook("onRequest", async (req, reply) => {
    if (!hostAllowed(req.headers.host))
      return sendError(reply, 421, "host_not_allowed", "this server does not answer to that Host name; use its address, or have the operator add the name to BERTH_ALLOWED_HOSTS");
  });

  // One line per API call: method, path (no query, no header: nothing a caller sends as a
  // secret), status, time. Probes (/health, /ready, /metrics) would drown it, so /v1 only.
  app.addHook("onResponse", async (req, reply) => {
    const path = req.url.split("?")[0]!;
    if (!path.startsWith("/v1/")) return;
    const id = (req.params as { id?: unknown } | undefined)?.id;
    req.log.info(
      { method: req.method, path: d.redactor.redact(path.slice(0, 200)), status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...(typeof id === "string" ? { sessionId: id } : {}) },
      "request",
    );
  });

  // --- unauthenticated --------------------------------------------------------
  app.get("/health", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/ready", { schema: { hide: true } }, async (_req, reply) => {
    const why = await d.notReady();
    if (why) return reply.code(503).send({ status: "not_ready", reason: why });
    return { status: "ready" };
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  if (d.consoleDir) await registerConsole(app, d.consoleDir);
  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
    if (!d.metrics) return sendError(reply, 404, "not_found", "metrics are not enabled");
    const { contentType, body } = await d.metrics.render();
    return reply.type(contentType).send(body);
  });

  // --- /v1: bearer token --------------------------------------------------------
  // Defence in depth: resolveApiToken refuses short tokens; an embedder passing one is a bug.
  if (d.apiToken.length < MIN_TOKEN_LENGTH) throw new Error(`buildApi: the API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const expected = Buffer.from(d.apiToken);
  await app.register(
    async (v1) => {
      v1.addHook("onRequest", async (req, reply) => {
        const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
        const got = Buffer.from(m?.[1]?.trim() ?? "");
        if (got.length === 0 || got.length !== expected.length || !timingSafeEqual(got, expected))
          return sendError(reply, 401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <BERTH_TOKEN>)");
        if (d.recovered) {
          try {
            await d.recovered;
          } catch (e) {
            return sendError(reply, 503, "recovery_failed", d.redactor.redact(`berth could not recover from its previous run: ${(e as Error).message}; see the server log`));
          }
        }
      });
      const r = v1.withTypeProvider<ZodTypeProvider>();
      registerFileRoutes(v1, {
        manager: d.manager,
        ...(d.files ?? { tmpDir: join(tmpdir(), `berth-uploads-${process.pid}`), maxUploadBytes: 1024 ** 3, maxUploadEntries: 100_000 }),
      });

      r.get(
        "/harnesses",
        {
          schema: {
            operationId: "listHarnesses",
            summary: "List the harnesses berth can run",
            tags: ["harnesses"],
            response: { 200: z.object({ harnesses: z.array(Harness) }).describe("Every harness, installed or installable") },
          },
        },
        async () => ({
        harnesses: HARNESSES.map((h) => ({
          id: h.id,
          name: h.name,
          version: h.version,
          packages: h.packages,
          license: h.license,
          redistributable: h.redistributable,
          asksPermission: h.asksPermission,
          api: h.api,
          authMethods: h.authMethods,
          installed: d.installer.installed(h) !== undefined,
          // From the harness's own ACP initialize (and first session/new), once one has run.
          capabilities: readCapabilities(d.installer.installed(h)),
          })),
        }),
      );

      r.get(
        "/providers",
        {
          schema: {
            operationId: "listProviders",
            summary: "List the provider routes models resolve through",
            tags: ["harnesses"],
            response: { 200: z.object({ providers: z.array(Provider) }).describe("Routes, in resolution order") },
          },
        },
        async () => ({ providers: d.providers?.() ?? [] }),
      );

      r.get(
        "/conformance",
        {
          schema: {
            operationId: "listConformance",
            summary: "Each tier's latest isolation-contract report (berth conformance)",
            tags: ["harnesses"],
            response: { 200: z.object({ reports: z.array(ConformanceReport) }).describe("One per tier that has been checked on this server's home") },
          },
        },
        async () => ({ reports: d.conformance?.() ?? [] }),
      );

      r.post(
        "/sessions",
        {
          schema: {
            operationId: "createSession",
            summary: "Create a session",
            description: "Starts the harness in a sandbox (or claims a warm pool entry); the session is `starting` until its `session.status` event says `ready`.",
            tags: ["sessions"],
            body: CreateSessionRequest,
            response: {
              201: SessionView.describe("The session, starting (or ready, from a warm pool)"),
              403: ErrorBody.describe("The tier is not allowed on this server"),
              ...conflict,
              501: ErrorBody.describe("The tier has no sandbox driver here"),
            },
          },
        },
        async (req, reply) => {
          const row = await d.manager.create(req.body);
          return reply.code(201).send(await sessionDto(row, d));
        },
      );

      r.get(
        "/sessions",
        {
          schema: {
            operationId: "listSessions",
            summary: "List sessions, newest first",
            tags: ["sessions"],
            description: "A page of sessions, newest first. When more follow, `nextCursor` is set: pass it as `before` for the next page (a keyset: no session is skipped or repeated while sessions are created).",
            querystring: ListSessionsQuery,
            response: {
              200: z
                .object({
                  sessions: z.array(SessionView),
                  nextCursor: z.string().optional().describe("Present when more sessions follow: the `before` of the next page"),
                })
                .describe("Sessions"),
            },
          },
        },
        async (req) => {
          const limit = req.query.limit ?? 100;
          const rows = await d.manager.list({
            // One more than the page, to know whether another page follows.
            limit: limit + 1,
            ...(req.query.before !== undefined ? { before: parseSessionCursor(req.query.before) } : {}),
            ...(req.query.state ? { states: [...new Set(req.query.state.split(","))] as SessionState[] } : {}),
          });
          const page = rows.slice(0, limit);
          return { sessions: await sessionDtos(page, d), ...(rows.length > limit ? { nextCursor: sessionCursor(page.at(-1)!) } : {}) };
        },
      );

      r.get(
        "/sessions/:id",
        { schema: { operationId: "getSession", summary: "Get a session", tags: ["sessions"], params: SessionParams, response: { 200: SessionView.describe("The session"), ...notFound } } },
        async (req) =>
        sessionDto(await d.manager.get(req.params.id), d),
      );

      r.delete(
        "/sessions/:id",
        {
          schema: {
            operationId: "endSession",
            summary: "End a session",
            description:
              "Cancels its running turn, stops its sandbox and ends it for good (idempotent). With `purge=true` it is then deleted: its record, turns, events, home, snapshots and the workspace berth made for it (never a caller's workspace); its id is unknown afterwards.",
            tags: ["sessions"],
            params: SessionParams,
            querystring: z.object({ purge: z.enum(["true", "false"]).optional().describe("Delete the session once it has ended") }),
            response: { 200: SessionView.describe("The ended session"), 204: z.null().describe("Ended and deleted (purge=true)"), ...notFound, ...conflict },
          },
        },
        async (req, reply) => {
          if (req.query.purge !== "true") return sessionDto(await d.manager.end(req.params.id), d);
          await d.manager.purge(req.params.id);
          return reply.code(204).send(null);
        },
      );

      r.post(
        "/sessions/:id/resume",
        {
          schema: {
            operationId: "resumeSession",
            summary: "Resume an interrupted or failed session",
            description: "Restarts its harness with ACP session/load; the session is `starting` until `ready`.",
            tags: ["sessions"],
            params: SessionParams,
            body: ResumeRequest.nullish(),
            response: { 202: SessionView.describe("The session, starting again"), ...notFound, ...conflict },
          },
        },
        async (req, reply) => reply.code(202).send(await sessionDto(await d.manager.resume(req.params.id, req.body ?? {}), d)),
      );

      r.post(
        "/sessions/:id/fork",
        {
          schema: {
            operationId: "forkSession",
            summary: "Fork a session at a turn",
            description:
              "A new session like this one (harness, model, tier, settings; pass secrets again), whose workspace is a copy of this one's as of the turn's end and whose harness is primed with the conversation up to it. Its first event names the source (forkedFrom); its ready event says context: rebuilt.",
            tags: ["sessions"],
            params: SessionParams,
            body: ForkRequest.nullish(),
            response: { 201: SessionView.describe("The new session, starting"), ...notFound, ...conflict },
          },
        },
        async (req, reply) => reply.code(201).send(await sessionDto(await d.manager.fork(req.params.id, req.body ?? {}), d)),
      );

      r.post(
        "/sessions/:id/turns",
        {
          schema: {
            operationId: "postTurn",
            summary: "Send a prompt (queue a turn)",
            description: "Turns run one at a time in the order posted; follow the session's events for its progress and `turn.ended`.",
            tags: ["turns"],
            params: SessionParams,
            body: PostTurnRequest,
            response: {
              200: TurnView.describe("The turn a retried request (same idempotency key) created"),
              202: TurnView.describe("The new turn, queued"),
              ...notFound,
              ...conflict,
            },
          },
        },
        async (req, reply) => {
          const header = req.headers["idempotency-key"];
          const key = req.body.idempotencyKey ?? (typeof header === "string" && header ? header : undefined);
          const tp = req.headers.traceparent;
          const ts = req.headers.tracestate;
          const { turn, created } = await d.manager.postTurn(req.params.id, {
            prompt: req.body.prompt,
            idempotencyKey: key,
            ...(typeof tp === "string" ? { traceparent: tp } : {}),
            ...(typeof ts === "string" ? { tracestate: ts } : {}),
          });
          // 202 for a new turn (it runs later); 200 when a retried POST finds the turn it made.
          return reply.code(created ? 202 : 200).send(turnDto(turn, d));
        },
      );

      r.get(
        "/sessions/:id/turns",
        {
          schema: {
            operationId: "listTurns",
            summary: "List a session's turns, in order",
            tags: ["turns"],
            params: SessionParams,
            response: { 200: z.object({ turns: z.array(TurnView) }).describe("Turns"), ...notFound },
          },
        },
        async (req) => ({ turns: (await d.manager.turns(req.params.id)).map((t) => turnDto(t, d)) }),
      );

      r.get(
        "/sessions/:id/turns/:turnId/diff",
        {
          schema: {
            operationId: "getTurnDiff",
            summary: "What a turn changed in the workspace",
            description:
              "From berth's snapshots of the workspace at the turn's start and end (a private store the agent cannot reach). Binary files are listed, not inlined; the patch is cut at 1 MiB.",
            tags: ["turns"],
            params: TurnParams,
            response: { 200: TurnDiff.describe("Files added, modified and deleted, and the unified diff"), ...notFound },
          },
        },
        async (req) => {
          const { id, turnId } = req.params;
          if (!(await d.manager.turns(id)).some((t) => t.id === turnId)) throw new BerthError(404, "turn_not_found", `no turn ${turnId} in session ${id}`);
          const snaps = d.manager.snapshots;
          if (!snaps || !(await snaps.has(id, `turns/${turnId}/end`)))
            throw new BerthError(404, "no_snapshot", `turn ${turnId} has no workspace snapshots (it has not ended, it never started, or BERTH_TURN_SNAPSHOTS is off)`);
          const diff = await snaps.diff(id, `turns/${turnId}/start`, `turns/${turnId}/end`);
          return { turnId, ...diff, patch: d.redactor.redact(diff.patch) };
        },
      );

      r.post(
        "/sessions/:id/cancel",
        {
          schema: {
            operationId: "cancelTurn",
            summary: "Cancel the running turn",
            description: "Sends ACP session/cancel; the turn ends with stop reason `cancelled`.",
            tags: ["turns"],
            params: SessionParams,
            response: { 202: z.object({ turnId: z.string() }).describe("The turn being cancelled"), ...notFound, ...conflict },
          },
        },
        async (req, reply) => reply.code(202).send(await d.manager.cancel(req.params.id)),
      );

      r.post(
        "/sessions/:id/permissions/:permissionId",
        {
          schema: {
            operationId: "answerPermission",
            summary: "Answer a permission request",
            description: "Answers a pending `permission.requested` event with one of its options or allow/deny.",
            tags: ["turns"],
            params: PermissionParams,
            body: PermissionAnswerRequest,
            response: { 200: z.object({ permissionId: z.string(), optionId: z.string().nullable() }).describe("The answer given"), ...notFound, ...conflict },
          },
        },
        async (req) => d.manager.answerPermission(req.params.id, req.params.permissionId, req.body),
      );

      r.get(
        "/sessions/:id/events",
        {
          schema: {
            operationId: "getEvents",
            summary: "Read or follow a session's events",
            description:
              "With Accept: text/event-stream, server-sent events (id: seq), resumable with Last-Event-ID or ?after=; the stream closes after an ended session's last event, and a reconnect with nothing left gets 204. Otherwise one JSON page of stored events.",
            tags: ["events"],
            params: SessionParams,
            querystring: EventsQuery,
            response: { 200: EventPage.describe("A page of events"), ...notFound },
          },
          // Stored events are sent as they were written (an older berth's included): documented, not re-validated.
          serializerCompiler: () => (data) => JSON.stringify(data),
        },
        async (req, reply) => {
          const id = req.params.id;
          const after = eventCursor(req.headers["last-event-id"], req.query.after);
          const session = await d.manager.get(id);
          if (!wantsEventStream(req)) {
            const page = await d.events.read(id, after, req.query.limit ?? 1000);
            const events = page.map((e) => JSON.parse(e.json));
            return { events, lastSeq: await d.events.lastSeq(id), nextAfter: page.length ? page[page.length - 1]!.seq : after };
          }
          await streamEvents(req, reply, d.events, id, after, session.state === "ended");
          return reply;
        },
      );
    },
    { prefix: "/v1" },
  );

  return app;
}

/** Content negotiation: the stream only for a client that asks for it; JSON for everyone else (curl, generated clients). */
function wantsEventStream(req: FastifyRequest): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? "");
}

/** A turn as the API shows it: the prompt passes the redactor (a key pasted into a prompt is not echoed). */
function turnDto(t: TurnRecord, d: Pick<ApiDeps, "redactor">): TurnView {
  const view = toTurnView(t);
  return { ...view, prompt: JSON.parse(d.redactor.redact(JSON.stringify(view.prompt))) as TurnView["prompt"] };
}

async function sessionDto(s: SessionRecord, d: Pick<ApiDeps, "manager">): Promise<SessionView> {
  return (await sessionDtos([s], d))[0]!;
}

/** Views of many sessions: their tallies in one read, not several reads per session. */
async function sessionDtos(rows: SessionRecord[], d: Pick<ApiDeps, "manager">): Promise<SessionView[]> {
  const tallies = await d.manager.tallies(rows);
  return rows.map((s) => {
    const { lastSeq, spent, turns, waitingForPermission } = tallies.get(s.id)!;
    return toSessionView(s, lastSeq, () => spent, { waitingForPermission, turns });
  });
}
