import { describe, expect, it } from "vitest";
import { normalizeUpdate } from "../../../src/acp/normalize.js";
import { toolSpanName } from "../../../src/telemetry/tracing/turn-spans.js";

describe("turn spans: tool span names", () => {
  const nameOf = (update: object) => toolSpanName((normalizeUpdate(update as Parameters<typeof normalizeUpdate>[0])?.data ?? {}) as Record<string, unknown>);

  it("prefer the harness's own tool name, then the ACP kind; never the title", () => {
    expect(nameOf({ sessionUpdate: "tool_call", toolCallId: "t", title: "cat /etc/x", kind: "execute", _meta: { claudeCode: { toolName: "Bash" } } })).toBe("Bash");
    expect(nameOf({ sessionUpdate: "tool_call", toolCallId: "t", title: "x", kind: "read", name: "read_file" })).toBe("read_file");
    expect(nameOf({ sessionUpdate: "tool_call", toolCallId: "t", title: "Edit a.ts", kind: "edit" })).toBe("edit");
    expect(nameOf({ sessionUpdate: "tool_call_update", toolCallId: "t", title: "rm -rf x" })).toBe("tool");
  });

  it("are cut to 64 characters", () => {
    expect(toolSpanName({ toolName: "x".repeat(100) })).toBe("x".repeat(64));
  });
});
