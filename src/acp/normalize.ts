import type { SessionUpdate } from "@agentclientprotocol/sdk";
import type { NewEvent } from "../events/types.js";

// ACP session/update → berth events. Only what a client of berth acts on is kept;
// editor-UI updates (command palettes, mode menus) are dropped.

function contentText(c: unknown): string | undefined {
  const b = c as { type?: string; text?: string } | undefined;
  return b?.type === "text" ? b.text : undefined;
}

/** Flattens ACP tool-call content to plain text (diffs and terminals are summarised). */
function toolContent(content: unknown): { text?: string; diffs?: { path: string }[] } {
  if (!Array.isArray(content)) return {};
  const texts: string[] = [];
  const diffs: { path: string }[] = [];
  for (const c of content) {
    if (c?.type === "content") {
      const t = contentText(c.content);
      if (t !== undefined) texts.push(t);
    } else if (c?.type === "diff") diffs.push({ path: c.path });
  }
  return { ...(texts.length ? { text: texts.join("\n") } : {}), ...(diffs.length ? { diffs } : {}) };
}

/**
 * The harness's own name for a tool, where it reports one (claude-agent-acp:
 * `_meta.claudeCode.toolName`; others: `name`). ACP itself has only kind and title.
 */
function harnessToolName(u: object): string | undefined {
  const x = u as { name?: unknown; _meta?: { claudeCode?: { toolName?: unknown } } | null };
  const name = x._meta?.claudeCode?.toolName ?? x.name;
  return typeof name === "string" && name ? name : undefined;
}

export function normalizeUpdate(u: SessionUpdate, turnId?: string): NewEvent | undefined {
  switch (u.sessionUpdate) {
    case "agent_message_chunk": {
      const text = contentText(u.content);
      if (text === "") return undefined; // some harnesses open each text block with an empty chunk
      return { type: "message.delta", turnId, data: text !== undefined ? { text } : { content: u.content } };
    }
    case "agent_thought_chunk": {
      const text = contentText(u.content);
      if (text === "") return undefined;
      return { type: "thought.delta", turnId, data: text !== undefined ? { text } : { content: u.content } };
    }
    case "tool_call": {
      const toolName = harnessToolName(u);
      return {
        type: "tool.call",
        turnId,
        data: {
          toolCallId: u.toolCallId,
          title: u.title,
          kind: u.kind ?? "other",
          status: u.status ?? "pending",
          input: u.rawInput,
          ...(toolName ? { toolName } : {}),
          ...(u.rawOutput !== undefined ? { output: u.rawOutput } : {}),
          ...(u.locations?.length ? { locations: u.locations } : {}),
          ...toolContent(u.content),
        },
      };
    }
    case "tool_call_update":
      return {
        type: "tool.update",
        turnId,
        data: {
          toolCallId: u.toolCallId,
          ...(u.status ? { status: u.status } : {}),
          ...(u.title ? { title: u.title } : {}),
          ...(u.kind ? { kind: u.kind } : {}),
          ...(u.rawInput !== undefined ? { input: u.rawInput } : {}),
          ...(u.rawOutput !== undefined ? { output: u.rawOutput } : {}),
          ...toolContent(u.content),
        },
      };
    case "plan":
      return { type: "plan", turnId, data: { entries: u.entries } };
    case "usage_update":
      return { type: "usage", turnId, data: { source: "agent", ...(u as object) } };
    default:
      return undefined;
  }
}
