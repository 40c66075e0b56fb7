import { describe, expect, it } from "vitest";
import { rebuiltConversation, type LoggedEvent } from "../../src/sessions/rebuilt-context.js";
import type { TurnRecord } from "../../src/sessions/types.js";

const turn = (id: string, idx: number, text: string, state: TurnRecord["state"] = "completed", stopReason: string | null = "end_turn"): TurnRecord =>
  ({ id, sessionId: "ses_1", idx, state, prompt: [{ type: "text", text }], stopReason }) as unknown as TurnRecord;

describe("the conversation berth rebuilds from its log", () => {
  it("has each turn's prompt, the agent's text and its tool calls with their results, in order", () => {
    const events: LoggedEvent[] = [
      { type: "session.status", data: { state: "ready" } },
      { type: "message.delta", turnId: "t1", data: { text: "Let me " } },
      { type: "message.delta", turnId: "t1", data: { text: "look." } },
      { type: "tool.call", turnId: "t1", data: { toolCallId: "c1", title: "ls", input: { command: "ls" } } },
      { type: "tool.update", turnId: "t1", data: { toolCallId: "c1", status: "completed", output: "a.txt\n" } },
      { type: "message.delta", turnId: "t1", data: { text: "There is a.txt." } },
      { type: "message.delta", turnId: "t2", data: { text: "Half an ans" } },
    ];
    const text = rebuiltConversation([turn("t1", 0, "What is here?"), turn("t2", 1, "And now?", "interrupted", "interrupted")], events)!;
    expect(text).toContain("could not be restored");
    const body = text.slice(text.indexOf("User:"));
    expect(body.split("\n").filter(Boolean)).toEqual([
      "User: What is here?",
      "Assistant: Let me look.",
      'Assistant used a tool: ls {"command":"ls"}',
      "Tool completed: a.txt",
      "Assistant: There is a.txt.",
      "User: And now?",
      "Assistant: Half an ans",
      "(That turn ended interrupted: interrupted.)",
      "[end of the earlier conversation]",
    ]);
  });

  it("is nothing when no turn ended, and keeps the newest turns when it is too long", () => {
    expect(rebuiltConversation([turn("t1", 0, "queued", "queued", null)], [])).toBeUndefined();
    const turns = Array.from({ length: 50 }, (_, i) => turn(`t${i}`, i, `prompt ${i} ${"x".repeat(100)}`));
    const text = rebuiltConversation(turns, [], 2000)!;
    expect(text).toContain("prompt 49");
    expect(text).not.toContain("prompt 0 ");
    expect(text).toMatch(/the \d+ oldest turns left out for length/);
    expect(text.length).toBeLessThan(2600);
  });
});
