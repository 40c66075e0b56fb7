import { z } from "zod";
import { EVENT_DATA, EVENT_TYPES, SESSION_STATES, type EventType } from "../events/types.js";
import { ERROR_CODES } from "./error-codes.js";

// The API's own schemas (errors, events, paths, harnesses); the session contract is
// sessions/contract.ts. Together they validate requests and generate /openapi.json; the
// ones with an id are the document's named components (and the SDK's types).

export const ErrorBody = z
  .object({
    error: z.object({
      // Published as an enum; a string at run time, so a code added without the list still reaches the client.
      code: z.string().meta({ enum: [...ERROR_CODES] }).describe("Machine-readable; stable across versions"),
      message: z.string().describe("One sentence saying what went wrong and what to do"),
    }),
  })
  .meta({ id: "Error" });

/** `message.delta` → `MessageDeltaEvent`. */
const componentName = (t: EventType) =>
  t
    .split(/[._]/)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("") + "Event";

const eventVariant = <T extends EventType>(type: T) =>
  z
    .object({
      seq: z.number().int().describe("Position in the session's log, from 1, no gaps: the SSE id and Last-Event-ID"),
      ts: z.string().describe("ISO 8601, when berth recorded it"),
      sessionId: z.string(),
      turnId: z.string().optional().describe("The turn it belongs to, if any"),
      type: z.literal(type),
      data: EVENT_DATA[type],
    })
    .meta({ id: componentName(type) });

/** One event of a session's log: a union on `type`, each with its own `data`. */
export const Event = z
  .discriminatedUnion(
    "type",
    EVENT_TYPES.map((t) => eventVariant(t)) as unknown as [ReturnType<typeof eventVariant>, ...ReturnType<typeof eventVariant>[]],
  )
  .meta({ id: "Event" });

export const EventPage = z
  .object({
    events: z.array(Event),
    lastSeq: z.number().int().describe("The session's last event so far"),
    nextAfter: z.number().int().describe("Pass as ?after= for the next page"),
  })
  .meta({ id: "EventPage" });

export const EventsQuery = z.object({
  // Checked by eventCursor(), with Last-Event-ID, so both refuse alike (invalid_last_event_id).
  after: z.string().optional().describe("Sequence number to resume after (digits); Last-Event-ID takes precedence"),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});

const STATE = `(${SESSION_STATES.join("|")})`;

export const ListSessionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("At most this many sessions (default 100)"),
  // Checked by parseSessionCursor(): it must be a nextCursor this server gave (invalid_cursor).
  before: z.string().optional().describe("The nextCursor of the previous page: the sessions listed after it"),
  state: z
    .string()
    .regex(new RegExp(`^${STATE}(,${STATE})*$`), `a comma-separated list of session states (${SESSION_STATES.join(", ")})`)
    .optional()
    .describe("Only sessions in these states, comma-separated (e.g. ready,running)"),
});

export const SessionParams = z.object({ id: z.string().min(1).max(100) });
export const TurnParams = z.object({ id: z.string().min(1).max(100), turnId: z.string().min(1).max(100) });
export const PermissionParams = z.object({ id: z.string().min(1).max(100), permissionId: z.string().min(1).max(100) });

export const Harness = z
  .object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  packages: z.array(z.object({ name: z.string(), version: z.string() })),
  license: z.string(),
  redistributable: z.boolean(),
  asksPermission: z.boolean().describe("Whether the harness asks before tools that change things; if not, only permissionPolicy 'allow' applies"),
  api: z.string(),
  authMethods: z.array(z.string()),
  installed: z.boolean(),
  capabilities: z
    .object({
      agentInfo: z.unknown(),
      protocolVersion: z.number(),
      loadSession: z.boolean(),
      mcp: z.object({ stdio: z.boolean(), http: z.boolean(), sse: z.boolean() }),
      prompt: z.object({ image: z.boolean(), audio: z.boolean(), embeddedContext: z.boolean() }),
      authMethods: z.array(z.object({ id: z.string(), name: z.string().optional() })),
      modes: z.array(z.object({ id: z.string(), name: z.string().optional() })).nullable(),
      recordedAt: z.string(),
    })
    .nullable()
    .describe("What the harness reported over ACP (initialize + session/new) the first time it ran; null until then"),
  })
  .meta({ id: "Harness" });

export const Provider = z
  .object({
    id: z.string(),
    api: z.string().describe("The wire API berth speaks to it by default"),
    apis: z.array(z.string()),
    baseUrl: z.string(),
    models: z.array(z.string()).describe("Model ids and patterns it serves"),
    aliases: z.record(z.string(), z.string()),
    source: z.string().describe("The file the route comes from (or built-in)"),
    secret: z.string().optional().describe("The name of the secret it needs (never its value)"),
    secretPresent: z.boolean().describe("Whether that secret resolves in the server's environment"),
    explicitOnly: z.boolean().describe("Only used when a session names it (provider)"),
  })
  .meta({ id: "Provider" });

export const ConformanceReport = z
  .object({
    tier: z.string(),
    driver: z.string(),
    error: z.string().optional(),
    results: z.array(z.object({ probe: z.string(), tier: z.string(), expected: z.enum(["yes", "no"]), observed: z.enum(["yes", "no", "error"]), ok: z.boolean() })),
    ranAt: z.string(),
  })
  .meta({ id: "ConformanceReport" });

export const TurnDiff = z
  .object({
    turnId: z.string(),
    files: z.array(
      z.object({
        path: z.string(),
        change: z.enum(["added", "modified", "deleted"]),
        binary: z.boolean(),
        additions: z.number().int().optional(),
        deletions: z.number().int().optional(),
      }),
    ),
    patch: z.string().describe("Unified diff of the text files"),
    truncated: z.boolean().describe("More than 1000 files, or a patch over 1 MiB"),
  })
  .meta({ id: "TurnDiff" });
