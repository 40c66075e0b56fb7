import type { BerthEvent, EventOf } from "berth-client";

// A session's events folded into what a person reads: turns, each with its text, thoughts,
// tool calls (updated in place), permission requests, model calls and errors, in order.

export interface ToolItem {
  kind: "tool";
  key: string;
  title: string;
  toolKind?: string;
  status: string;
  input?: unknown;
  output?: unknown;
  diff?: { path: string; oldText?: string; newText: string }[];
}
export type TurnItem =
  | { kind: "text"; key: string; text: string }
  | { kind: "thought"; key: string; text: string }
  | ToolItem
  | { kind: "permission"; key: string; request: EventOf<"permission.requested">; resolved?: EventOf<"permission.resolved">["data"] }
  | { kind: "model"; key: string; data: EventOf<"model.call">["data"] }
  | { kind: "error"; key: string; code: string; message?: string }
  | { kind: "plan"; key: string; entries: unknown }
  | { kind: "changes"; key: string; data: EventOf<"workspace.changed">["data"] };

export interface Turn {
  kind: "turn";
  key: string;
  turnId: string;
  idx?: number;
  items: TurnItem[];
  stopReason?: string | null;
}
export type Entry = Turn | { kind: "status"; key: string; state: string; detail?: string; reason?: string } | { kind: "error"; key: string; code: string; message?: string };

export interface Timeline {
  entries: Entry[];
  lastSeq: number;
  /** Permission requests nobody has answered yet. */
  pending: EventOf<"permission.requested">[];
}

export const emptyTimeline = (): Timeline => ({ entries: [], lastSeq: 0, pending: [] });

/** Adds events (in order; ones already folded in, by seq, are ignored). Returns a new timeline. */
export function fold(t: Timeline, events: BerthEvent[]): Timeline {
  let { entries, lastSeq, pending } = t;
  entries = entries.slice();
  pending = pending.slice();
  const turnOf = (turnId: string): Turn => {
    const i = entries.findIndex((e) => e.kind === "turn" && e.turnId === turnId);
    if (i >= 0) {
      const copy = { ...(entries[i] as Turn), items: (entries[i] as Turn).items.slice() };
      entries[i] = copy;
      return copy;
    }
    const turn: Turn = { kind: "turn", key: turnId, turnId, items: [] };
    entries.push(turn);
    return turn;
  };
  for (const ev of events) {
    if (ev.seq <= lastSeq) continue;
    lastSeq = ev.seq;
    const key = String(ev.seq);
    if (!ev.turnId) {
      // "running" and the "ready" that follows every turn are the turns themselves: not repeated as lines.
      const lastStatus = entries.findLast((e) => e.kind === "status");
      const quiet = ev.type === "session.status" && !ev.data.detail && (ev.data.state === "running" || (ev.data.state === "ready" && lastStatus?.kind === "status" && lastStatus.state === "ready"));
      if (quiet) continue;
      if (ev.type === "session.status") entries.push({ kind: "status", key, state: ev.data.state, ...(ev.data.detail ? { detail: ev.data.detail } : {}), ...(ev.data.reason ? { reason: ev.data.reason } : {}) });
      else if (ev.type === "session.error") entries.push({ kind: "error", key, code: ev.data.code, ...(ev.data.message ? { message: ev.data.message } : {}) });
      continue;
    }
    const turn = turnOf(ev.turnId);
    const last = turn.items.at(-1);
    switch (ev.type) {
      case "turn.started":
        turn.idx = ev.data.idx;
        break;
      case "message.delta":
      case "thought.delta": {
        const kind = ev.type === "message.delta" ? "text" : "thought";
        const text = typeof ev.data.text === "string" ? ev.data.text : "";
        if (last && last.kind === kind) turn.items[turn.items.length - 1] = { ...last, text: last.text + text };
        else turn.items.push({ kind, key, text });
        break;
      }
      case "tool.call":
      case "tool.update": {
        const id = ev.data.toolCallId;
        const i = turn.items.findIndex((x) => x.kind === "tool" && x.key === id);
        const prev = i >= 0 ? (turn.items[i] as ToolItem) : { kind: "tool" as const, key: id, title: "tool", status: "pending" };
        const diff = diffsOf((ev.data as { content?: unknown }).content);
        const next: ToolItem = {
          ...prev,
          title: ev.data.title ?? prev.title ?? ev.data.toolName ?? "tool",
          ...(ev.data.kind ? { toolKind: ev.data.kind } : {}),
          ...(ev.data.status ? { status: ev.data.status } : {}),
          ...(ev.data.input !== undefined ? { input: ev.data.input } : {}),
          ...(ev.data.output !== undefined ? { output: ev.data.output } : {}),
          ...(diff.length ? { diff } : {}),
        };
        if (i >= 0) turn.items[i] = next;
        else turn.items.push(next);
        break;
      }
      case "permission.requested":
        turn.items.push({ kind: "permission", key: ev.data.permissionId, request: ev });
        pending.push(ev);
        break;
      case "permission.resolved": {
        const i = turn.items.findIndex((x) => x.kind === "permission" && x.key === ev.data.permissionId);
        if (i >= 0) turn.items[i] = { ...(turn.items[i] as Extract<TurnItem, { kind: "permission" }>), resolved: ev.data };
        pending = pending.filter((p) => p.data.permissionId !== ev.data.permissionId);
        break;
      }
      case "model.call":
        turn.items.push({ kind: "model", key, data: ev.data });
        break;
      case "session.error":
        turn.items.push({ kind: "error", key, code: ev.data.code, ...(ev.data.message ? { message: ev.data.message } : {}) });
        break;
      case "plan":
        turn.items.push({ kind: "plan", key, entries: ev.data.entries });
        break;
      case "workspace.changed":
        turn.items.push({ kind: "changes", key, data: ev.data });
        break;
      case "turn.ended":
        turn.stopReason = ev.data.stopReason;
        // A turn that ended answered (or dropped) whatever it still asked.
        pending = pending.filter((p) => p.turnId !== ev.turnId);
        break;
      default:
        break;
    }
  }
  return { entries, lastSeq, pending };
}

/** ACP diff content ({type: "diff", path, oldText, newText}) where the harness reports one. */
function diffsOf(content: unknown): { path: string; oldText?: string; newText: string }[] {
  if (!Array.isArray(content)) return [];
  return content.flatMap((c) =>
    c && typeof c === "object" && (c as { type?: unknown }).type === "diff" && typeof (c as { path?: unknown }).path === "string"
      ? [{ path: (c as { path: string }).path, newText: String((c as { newText?: unknown }).newText ?? ""), ...(typeof (c as { oldText?: unknown }).oldText === "string" ? { oldText: (c as { oldText: string }).oldText } : {}) }]
      : [],
  );
}
