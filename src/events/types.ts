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
  "error",
  /** After a sandbox: code-running files the agent planted in the workspace, moved to quarantine. */
  "workspace.neutralized",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface BerthEvent {
  seq: number;
  ts: string;
  sessionId: string;
  turnId?: string;
  type: EventType;
  data: Record<string, unknown>;
}

/** What a producer hands to the log; seq and ts are assigned on append. */
export type NewEvent = Omit<BerthEvent, "seq" | "ts" | "sessionId">;

export const SESSION_STATES = ["starting", "ready", "running", "ended", "failed", "interrupted"] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const TURN_STATES = ["queued", "running", "completed", "cancelled", "failed", "interrupted"] as const;
export type TurnState = (typeof TURN_STATES)[number];
