import { z } from "zod";
import { EVENT_TYPES } from "../events/types.js";

// The API's own schemas (errors, events, paths, harnesses); the session contract is
// sessions/contract.ts. Together they validate requests and generate /openapi.json.

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const Event = z.object({
  seq: z.number().int(),
  ts: z.string(),
  sessionId: z.string(),
  turnId: z.string().optional(),
  type: z.enum(EVENT_TYPES),
  data: z.record(z.string(), z.unknown()),
});

export const EventsQuery = z.object({
  // Checked by eventCursor(), with Last-Event-ID, so both refuse alike (invalid_last_event_id).
  after: z.string().optional().describe("Sequence number to resume after (digits); Last-Event-ID takes precedence"),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});

export const SessionParams = z.object({ id: z.string().min(1).max(100) });
export const PermissionParams = z.object({ id: z.string().min(1).max(100), permissionId: z.string().min(1).max(100) });

export const Harness = z.object({
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
});
