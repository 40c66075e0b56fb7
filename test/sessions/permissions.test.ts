import { describe, expect, it } from "vitest";
import type { RequestPermissionRequest } from "@agentclientprotocol/sdk";
import { PermissionBroker } from "../../src/sessions/permissions.js";

const req: RequestPermissionRequest = {
  sessionId: "acp1",
  toolCall: { toolCallId: "t1", title: "Bash: rm -rf /tmp/x", kind: "execute", rawInput: { command: "rm -rf /tmp/x" } },
  options: [
    { optionId: "yes", name: "Allow", kind: "allow_once" },
    { optionId: "always", name: "Always", kind: "allow_always" },
    { optionId: "no", name: "Reject", kind: "reject_once" },
  ],
};

function broker() {
  const events: any[] = [];
  return { events, b: new PermissionBroker((e) => events.push(e)) };
}

describe("PermissionBroker", () => {
  it("allow and deny policies answer at once, and both are on the record", async () => {
    const { events, b } = broker();
    expect(await b.request(req, "allow", 1000, new AbortController().signal)).toEqual({ outcome: { outcome: "selected", optionId: "yes" } });
    expect(await b.request(req, "deny", 1000, new AbortController().signal)).toEqual({ outcome: { outcome: "selected", optionId: "no" } });
    expect(events.map((e) => [e.type, e.data.by ?? e.data.policy])).toEqual([
      ["permission.requested", "allow"],
      ["permission.resolved", "policy"],
      ["permission.requested", "deny"],
      ["permission.resolved", "policy"],
    ]);
  });

  it("ask waits for the client's answer", async () => {
    const { events, b } = broker();
    const p = b.request(req, "ask", 60_000, new AbortController().signal);
    const id = events[0].data.permissionId;
    expect(events[0].data.options.map((o: any) => o.optionId)).toEqual(["yes", "always", "no"]);
    expect(() => b.answer(id, { optionId: "maybe" })).toThrow(/not one of/);
    expect(b.answer(id, { decision: "allow" })).toEqual({ permissionId: id, optionId: "yes" });
    expect(await p).toEqual({ outcome: { outcome: "selected", optionId: "yes" } });
    expect(events[1].data).toMatchObject({ permissionId: id, by: "client", kind: "allow_once" });
    expect(() => b.answer(id, { decision: "deny" })).toThrow(/no pending/);
  });

  it("ask denies when the timeout passes", async () => {
    const { events, b } = broker();
    expect(await b.request(req, "ask", 50, new AbortController().signal)).toEqual({ outcome: { outcome: "selected", optionId: "no" } });
    expect(events[1].data).toMatchObject({ by: "timeout", kind: "reject_once" });
  });

  it("cancel answers pending requests with cancelled (as ACP requires)", async () => {
    const { b } = broker();
    const ctl = new AbortController();
    const p1 = b.request(req, "ask", 60_000, ctl.signal);
    const p2 = b.request(req, "ask", 60_000, new AbortController().signal);
    ctl.abort();
    expect(await p1).toEqual({ outcome: { outcome: "cancelled" } });
    b.cancelAll();
    expect(await p2).toEqual({ outcome: { outcome: "cancelled" } });
  });

  it("without a matching option the answer is cancelled rather than a wrong option", async () => {
    const { b } = broker();
    const only = { ...req, options: [{ optionId: "yes", name: "Allow", kind: "allow_once" as const }] };
    expect(await b.request(only, "deny", 1000, new AbortController().signal)).toEqual({ outcome: { outcome: "cancelled" } });
  });
});
