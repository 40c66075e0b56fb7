import type { TurnRecord } from "./types.js";

// When a harness cannot restore its own conversation (ACP session/load missing or failing,
// as Gemini CLI does after a kill -9 mid-turn), berth rebuilds it from its log: the earlier
// turns' prompts, the agent's answers and its tool calls, as text put before the next
// prompt. The agent then knows what happened, and the session's events say "rebuilt".

/** The most text the rebuilt conversation takes; the oldest turns are dropped first. */
export const MAX_REBUILT_CHARS = 60_000;
const MAX_TOOL_OUTPUT = 400;

/** An event as the log returns it (its JSON, parsed). */
export interface LoggedEvent {
  type: string;
  turnId?: string;
  data: Record<string, unknown>;
}

const promptText = (prompt: unknown[]): string =>
  prompt
    .map((b) => {
      const block = b as { type?: string; text?: string; uri?: string; resource?: { uri?: string } };
      if (block.type === "text") return block.text ?? "";
      return `[${block.type ?? "content"}${block.uri ?? block.resource?.uri ? `: ${block.uri ?? block.resource?.uri}` : ""}]`;
    })
    .join("\n");

const brief = (v: unknown): string => {
  const s = typeof v === "string" ? v : JSON.stringify(v ?? "");
  return s.length > MAX_TOOL_OUTPUT ? `${s.slice(0, MAX_TOOL_OUTPUT)}…` : s;
};

/** The earlier conversation as text, or undefined when there was none. */
export function rebuiltConversation(
  turns: TurnRecord[],
  events: Iterable<LoggedEvent>,
  maxChars = MAX_REBUILT_CHARS,
  intro = "this session was resumed, and the agent's own record of the conversation could not be restored",
): string | undefined {
  const byTurn = new Map<string, LoggedEvent[]>();
  for (const e of events) if (e.turnId) (byTurn.get(e.turnId) ?? byTurn.set(e.turnId, []).get(e.turnId)!).push(e);
  const parts: string[] = [];
  for (const t of turns) {
    if (t.state === "queued" || t.state === "running") continue;
    const lines = [`User: ${promptText(t.prompt)}`];
    let text = "";
    const flush = () => {
      if (text.trim()) lines.push(`Assistant: ${text.trim()}`);
      text = "";
    };
    for (const e of byTurn.get(t.id) ?? []) {
      if (e.type === "message.delta") text += typeof e.data.text === "string" ? e.data.text : "";
      else if (e.type === "tool.call") {
        flush();
        lines.push(`Assistant used a tool: ${String(e.data.title ?? e.data.toolName ?? e.data.kind ?? "tool")}${e.data.input !== undefined ? ` ${brief(e.data.input)}` : ""}`);
      } else if (e.type === "tool.update" && (e.data.status === "completed" || e.data.status === "failed")) {
        flush();
        lines.push(`Tool ${e.data.status}${e.data.output !== undefined ? `: ${brief(e.data.output)}` : ""}`);
      }
    }
    flush();
    if (t.state !== "completed") lines.push(`(That turn ended ${t.state}${t.stopReason ? `: ${t.stopReason}` : ""}.)`);
    parts.push(lines.join("\n"));
  }
  if (parts.length === 0) return undefined;
  // The newest turns matter most: drop from the front until it fits.
  let kept = parts;
  while (kept.length > 1 && kept.join("\n\n").length > maxChars) kept = kept.slice(1);
  let body = kept.join("\n\n");
  if (body.length > maxChars) body = body.slice(body.length - maxChars);
  const dropped = parts.length - kept.length;
  return [
    `[berth: ${intro}. This is the conversation so far, from berth's log` +
      (dropped ? ` (the ${dropped} oldest turn${dropped === 1 ? "" : "s"} left out for length)` : "") +
      ". Continue from it.]",
    body,
    "[end of the earlier conversation]",
  ].join("\n\n");
}
