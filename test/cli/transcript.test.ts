import { describe, expect, it } from "vitest";
import type { BerthEvent } from "../../src/events/types.js";

// Plain text, even when the tests run on a terminal (colour is chosen at module load).
process.env.NO_COLOR = "1";
const { exitCodeFor, Transcript } = await import("../../src/cli/transcript.js");

let seq = 0;
const ev = (type: BerthEvent["type"], data: Record<string, unknown>): BerthEvent => ({ seq: ++seq, ts: "", sessionId: "s", type, data }) as BerthEvent;

function render(events: BerthEvent[]): string {
  let out = "";
  const t = new Transcript((s) => (out += s));
  for (const e of events) t.render(e);
  return out;
}

describe("Transcript", () => {
  it("shows a tool call's final input when its announcement carried only part of it", () => {
    const out = render([
      ev("tool.call", { toolCallId: "t1", title: "bash", status: "pending", input: { command: "echo 'hello" } }),
      ev("tool.update", { toolCallId: "t1", status: "in_progress", input: { command: "echo 'hello' > hello.txt" } }),
      ev("tool.update", { toolCallId: "t1", status: "completed", text: "done" }),
    ]);
    expect(out).toBe(`▸ bash {"command":"echo 'hello"}\n  ✓ bash completed {"command":"echo 'hello' > hello.txt"} done\n`);
  });

  it("does not repeat an input that did not change", () => {
    const out = render([
      ev("tool.call", { toolCallId: "t2", title: "read", input: { path: "a.txt" } }),
      ev("tool.update", { toolCallId: "t2", status: "failed", input: { path: "a.txt" } }),
    ]);
    expect(out).toBe(`▸ read {"path":"a.txt"}\n  ✗ read failed\n`);
  });

  it("prints errors and maps stop reasons to exit codes", () => {
    expect(render([ev("session.error", { code: "budget_exceeded", message: "the session's token budget is spent" })])).toBe(
      "error budget_exceeded: the session's token budget is spent\n",
    );
    expect([exitCodeFor("end_turn"), exitCodeFor("refusal"), exitCodeFor("budget_exceeded"), exitCodeFor("idle_timeout"), exitCodeFor("cancelled"), exitCodeFor("error")]).toEqual([0, 3, 4, 4, 130, 1]);
  });
});
