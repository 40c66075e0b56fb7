import type { RequestPermissionRequest, RequestPermissionResponse, SessionUpdate } from "@agentclientprotocol/sdk";
import { normalizeUpdate } from "../acp/normalize.js";
import type { NewEvent } from "../events/types.js";
import type { LiveSession } from "./turn-runner.js";
import type { SessionSettings } from "./types.js";

/** What the harness tells berth over ACP, turned into the session's events and answers. */
export class AgentUpdates {
  constructor(private emit: (sessionId: string, ev: NewEvent) => void) {}

  /** A session/update: normalised into an event of the running turn (repeats dropped). */
  update(live: LiveSession, u: SessionUpdate): void {
    if (live.replaying) return;
    const ev = normalizeUpdate(u, live.running);
    if (!ev) return;
    live.turnSpan?.onEvent(ev);
    if (ev.type === "tool.call" || ev.type === "tool.update") {
      // Harnesses repeat tool updates that carry nothing new; keep the log lean.
      const key = JSON.stringify(ev.data);
      if (live.toolStatus.get(ev.data.toolCallId) === key || Object.keys(ev.data).length === 1) return;
      live.toolStatus.set(ev.data.toolCallId, key);
    }
    this.emit(live.id, ev);
  }

  /** A session/request_permission, answered by the session's policy (or a person, for ask). */
  permission(live: LiveSession, settings: SessionSettings, req: RequestPermissionRequest, signal: AbortSignal): Promise<RequestPermissionResponse> {
    // Some harnesses (Gemini CLI) announce a tool only inside the permission request; the
    // log still gets its tool.call first, so every harness's events read the same.
    if (!live.toolStatus.has(req.toolCall.toolCallId))
      this.update(live, { ...req.toolCall, title: req.toolCall.title ?? "", status: "pending", sessionUpdate: "tool_call" } as SessionUpdate);
    // Waiting for a person does not count against the turn's deadlines; a wait nobody
    // answered (timed out) is charged back to the whole-turn limit.
    const waited = settings.permissionPolicy === "ask" ? live.deadlines?.waitForPerson() : undefined;
    return live.permissions.request(req, settings.permissionPolicy, settings.permissionTimeoutMs, signal, waited);
  }
}
