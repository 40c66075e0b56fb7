import type { BerthEvent } from "berth-client";
import { describe, expect, it } from "vitest";
import { emptyTimeline, fold, type Turn } from "../../packages/console/src/timeline.js";

// The console's fold of a session's events into its timeline (packages/console/src/timeline.ts).
let seq = 0;
const ev = (type: string, data: object, turnId?: string) => ({ seq: ++seq, ts: "t", sessionId: "s", type, data, ...(turnId ? { turnId } : {}) }) as BerthEvent;

describe("the console's timeline", () => {
  it("joins text deltas, updates a tool call in place, and ignores an event it has already folded", () => {
    seq = 0;
    const events = [
      ev("session.status", { state: "starting" }),
      ev("session.status", { state: "ready" }),
      ev("session.status", { state: "running" }),
      ev("turn.started", { idx: 0 }, "t1"),
      ev("message.delta", { text: "I'll " }, "t1"),
      ev("message.delta", { text: "write it." }, "t1"),
      ev("tool.call", { toolCallId: "c1", title: "bash", kind: "execute", status: "pending", input: { command: "ls" } }, "t1"),
      ev("tool.update", { toolCallId: "c1", status: "completed", output: "a.txt", content: [{ type: "diff", path: "a.txt", oldText: "x", newText: "y" }] }, "t1"),
      ev("message.delta", { text: "Done." }, "t1"),
      ev("turn.ended", { stopReason: "end_turn" }, "t1"),
      ev("session.status", { state: "ready" }),
    ];
    // Delivered in two batches that overlap (a resumed stream): the overlap changes nothing.
    const t = fold(fold(emptyTimeline(), events.slice(0, 7)), events.slice(4));
    expect(t.lastSeq).toBe(11);
    expect(t.entries.map((e) => (e.kind === "status" ? `status ${e.state}` : e.kind))).toEqual(["status starting", "status ready", "turn"]);
    const turn = t.entries[2] as Turn;
    expect(turn).toMatchObject({ idx: 0, stopReason: "end_turn" });
    expect(turn.items.map((i) => i.kind)).toEqual(["text", "tool", "text"]);
    expect(turn.items[0]).toMatchObject({ text: "I'll write it." });
    expect(turn.items[1]).toMatchObject({ title: "bash", toolKind: "execute", status: "completed", input: { command: "ls" }, output: "a.txt", diff: [{ path: "a.txt", oldText: "x", newText: "y" }] });
  });

  it("keeps a permission request pending until it is resolved or its turn ends", () => {
    seq = 0;
    const asked = (id: string) => ev("permission.requested", { permissionId: id, policy: "ask", toolCall: { toolCallId: "c", title: "rm -rf" } }, "t1");
    let t = fold(emptyTimeline(), [asked("p1"), asked("p2")]);
    expect(t.pending.map((p) => p.data.permissionId)).toEqual(["p1", "p2"]);
    t = fold(t, [ev("permission.resolved", { permissionId: "p1", outcome: "selected", optionId: "allow", kind: "allow_once", by: "client" }, "t1")]);
    expect(t.pending.map((p) => p.data.permissionId)).toEqual(["p2"]);
    expect((t.entries[0] as Turn).items[0]).toMatchObject({ kind: "permission", resolved: { by: "client" } });
    t = fold(t, [ev("turn.ended", { stopReason: "cancelled" }, "t1")]);
    expect(t.pending).toEqual([]);
  });

  it("shows errors outside a turn as their own lines", () => {
    seq = 0;
    const t = fold(emptyTimeline(), [ev("session.error", { code: "harness_exited", message: "code 1" })]);
    expect(t.entries).toEqual([{ kind: "error", key: "1", code: "harness_exited", message: "code 1" }]);
  });
});
