import type { SessionUpdate } from "@agentclientprotocol/sdk";
import { describe, expect, it } from "vitest";
import { normalizeUpdate } from "../../src/acp/normalize.js";
import { EVENT_DATA, EVENT_TYPES, type BerthEvent } from "../../src/events/types.js";

const updates: SessionUpdate[] = [
  { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "hello" } },
  { sessionUpdate: "agent_message_chunk", content: { type: "image", data: "AAAA", mimeType: "image/png" } },
  { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "hmm" } },
  { sessionUpdate: "tool_call", toolCallId: "c1", title: "Write hello.txt", kind: "edit", status: "pending", rawInput: { path: "hello.txt" } },
  {
    sessionUpdate: "tool_call_update",
    toolCallId: "c1",
    status: "completed",
    rawOutput: { ok: true },
    content: [
      { type: "content", content: { type: "text", text: "done" } },
      { type: "diff", path: "/w/hello.txt", oldText: null, newText: "hi" },
    ],
  },
  { sessionUpdate: "plan", entries: [{ content: "write the file", priority: "high", status: "pending" }] },
];

describe("normalizeUpdate", () => {
  it("every event it makes matches its type's data schema (the typed union the API and client rely on)", () => {
    for (const u of updates) {
      const ev = normalizeUpdate(u, "turn_1");
      expect(ev, u.sessionUpdate).toBeDefined();
      const parsed = EVENT_DATA[ev!.type].safeParse(ev!.data);
      expect(parsed.success, `${ev!.type}: ${parsed.error?.message}`).toBe(true);
      expect(ev!.turnId).toBe("turn_1");
    }
  });

  it("keeps text as text, flattens tool content, and drops empty chunks and editor-only updates", () => {
    expect(normalizeUpdate(updates[0]!)).toEqual({ type: "message.delta", turnId: undefined, data: { text: "hello" } });
    expect(normalizeUpdate(updates[4]!)?.data).toEqual({ toolCallId: "c1", status: "completed", output: { ok: true }, text: "done", diffs: [{ path: "/w/hello.txt" }] });
    expect(normalizeUpdate({ sessionUpdate: "agent_message_chunk", content: { type: "text", text: "" } })).toBeUndefined();
    expect(normalizeUpdate({ sessionUpdate: "available_commands_update", availableCommands: [] })).toBeUndefined();
  });

  it("narrows data by type: a wrong field for the type is a compile error, a missing required one fails the schema", () => {
    const ev = { seq: 1, ts: "", sessionId: "s", type: "turn.ended", data: { stopReason: "end_turn" } } satisfies BerthEvent;
    if (ev.type === "turn.ended") expect(ev.data.stopReason).toBe("end_turn");
    expect(EVENT_DATA["turn.queued"].safeParse({ idx: 0 }).success).toBe(false);
    expect(Object.keys(EVENT_DATA).sort()).toEqual([...EVENT_TYPES].sort());
  });
});
