import { z } from "zod";

// berth's normalized event model (docs/design.md, "Events"). Every harness's ACP
// session/update stream is mapped onto these, so clients see one vocabulary.
export const EVENT_TYPES = [
  "session.status",
  "turn.queued",
  "turn.started",
  "message.delta",
  "thought.delta",
  "tool.call",
  "tool.update",
  "plan",
  "permission.requested",
  "permission.resolved",
  "usage",
  "model.call",
  "turn.ended",
  /** Named so it cannot be taken for EventSource's own `error` event (it was `error` before 0.2). */
  "session.error",
  /** After a sandbox: code-running files the agent planted in the workspace, moved to quarantine. */
  "workspace.neutralized",
  /** At a turn's end: the files it added, modified and deleted (GET .../turns/{id}/diff has the diff). */
  "workspace.changed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const SESSION_STATES = ["starting", "ready", "running", "ended", "failed", "interrupted"] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const TURN_STATES = ["queued", "running", "completed", "cancelled", "failed", "interrupted"] as const;
export type TurnState = (typeof TURN_STATES)[number];

// Each event type's data: the fields berth always or often sets, typed; anything else a
// harness reports passes through (loose objects), so the schema never drops information.
const tokenCounts = z.looseObject({ inputTokens: z.number(), outputTokens: z.number() });
const deltaData = z.looseObject({ text: z.string().optional(), content: z.unknown().optional() });
const toolData = z.looseObject({
  toolCallId: z.string(),
  /** The harness's own tool name where it reports one (e.g. Claude Code's Bash). */
  toolName: z.string().optional(),
  title: z.string().optional(),
  kind: z.string().optional(),
  status: z.string().optional(),
  input: z.unknown().optional(),
  output: z.unknown().optional(),
});

export const EVENT_DATA = {
  "session.status": z.looseObject({
    state: z.enum(SESSION_STATES),
    reason: z.string().optional(),
    detail: z.string().optional(),
    resumed: z.boolean().optional().describe("On ready: the session was resumed"),
    context: z
      .enum(["restored", "rebuilt"])
      .optional()
      .describe("On a resumed or forked session's ready: the harness restored the conversation itself (ACP session/load), or berth rebuilt it from its log into the next prompt"),
    forkedFrom: z.looseObject({ sessionId: z.string(), turnId: z.string().optional() }).optional().describe("On a fork's first event: the session (and turn) it was forked from"),
  }),
  "turn.queued": z.looseObject({ idx: z.number().int(), position: z.number().int() }),
  "turn.started": z.looseObject({ idx: z.number().int() }),
  "message.delta": deltaData,
  "thought.delta": deltaData,
  "tool.call": toolData,
  "tool.update": toolData,
  plan: z.looseObject({ entries: z.unknown() }),
  "permission.requested": z.looseObject({
    permissionId: z.string(),
    policy: z.string(),
    /** The harness's own choices (allow once, allow always, reject...); answer with one's optionId, or allow/deny. */
    options: z.array(z.looseObject({ optionId: z.string(), name: z.string(), kind: z.string() })).optional(),
    toolCall: z.looseObject({ toolCallId: z.string(), title: z.string().nullish(), kind: z.string().nullish(), input: z.unknown().optional() }),
  }),
  "permission.resolved": z.looseObject({
    permissionId: z.string(),
    outcome: z.enum(["selected", "cancelled"]),
    optionId: z.string().nullable(),
    kind: z.string().nullable(),
    by: z.string(),
  }),
  usage: z.looseObject({ source: z.string() }),
  "model.call": z.looseObject({
    provider: z.string(),
    api: z.string().optional(),
    model: z.string().optional(),
    status: z.number().int(),
    durationMs: z.number().optional(),
    usage: tokenCounts.optional(),
    costUsd: z.number().optional(),
    error: z.string().optional(),
  }),
  "turn.ended": z.looseObject({ stopReason: z.string().nullable() }),
  "session.error": z.looseObject({ code: z.string(), message: z.string().optional() }),
  "workspace.neutralized": z.looseObject({ items: z.array(z.looseObject({})), truncated: z.boolean() }),
  "workspace.changed": z.looseObject({
    added: z.number().int(),
    modified: z.number().int(),
    deleted: z.number().int(),
    files: z.array(z.looseObject({ path: z.string(), change: z.enum(["added", "modified", "deleted"]), binary: z.boolean() })),
    truncated: z.boolean(),
  }),
} as const satisfies Record<EventType, z.ZodType>;

export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;

interface EventBase {
  seq: number;
  ts: string;
  sessionId: string;
  turnId?: string;
}

/** One event of berth's log: a union on `type`, so `data` is typed once `type` is checked. */
export type BerthEvent = { [T in EventType]: EventBase & { type: T; data: EventData<T> } }[EventType];

/** What a producer hands to the log; seq and ts are assigned on append. */
export type NewEvent = { [T in EventType]: { type: T; turnId?: string; data: EventData<T> } }[EventType];
