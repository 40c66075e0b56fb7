import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Berth } from "../../packages/client/src/index.js";
import {
  data,
  expectCanaryNowhere,
  expectEndedAndGone,
  expectGatewayTokenOnly,
  expectResumeAfterCrash,
  expectSkillSeen,
  expectToolLoopTurn,
  messageText,
  ofType,
  startReadySession,
  toolLoopScript,
  useMockedBerth,
} from "./harness-contract.js";
import { API_TOKEN, collect, isReady, newWorkspace, sessionPids, turnEnded, untilReady } from "./helpers.js";

// Real Claude Code (from npm, through claude-agent-acp) in a real bubblewrap sandbox, through
// berth's HTTP API and gateway, against berth's scripted mock model, which only accepts
// berth's real upstream key. The script says `bash`; the mock maps it to Claude Code's `Bash`.
const CANARY = "sk-ant-api03-CANARY" + "C".repeat(40);

const script = toolLoopScript({ name: "bash", input: { command: "printf 'written by claude' > out.txt && echo done", description: "Write out.txt" } });

const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

/** A session with `permissionPolicy: "ask"` whose one turn stops at the Bash permission request. */
async function askSession(extra: Record<string, unknown> = {}) {
  const { berth } = ctx;
  const ws = newWorkspace();
  const s = await berth.client.createSession({ harness: "claude", workspace: ws, permissionPolicy: "ask", ...extra });
  await collect(berth.client, s.id, isReady);
  const turn = await berth.client.postTurn(s.id, "write out.txt");
  const upTo = await collect(berth.client, s.id, ofType("permission.requested"));
  return { ws, s, turn, req: upTo.at(-1)!, after: upTo.at(-1)!.seq };
}

describe("Claude Code in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const { berth, mock } = ctx;
    const { s, ws } = await startReadySession(berth, "claude");
    expect(s.harness).toBe("claude");

    // While the harness runs: the adapter and the Claude Code binary have the gateway token
    // (as their API key) and never the real key.
    expectGatewayTokenOnly(s.id, CANARY, (env, token) => expect(env.ANTHROPIC_API_KEY).toBe(token), { minProcesses: 2 });
    expect(sessionPids(s.id).some((p) => readFileSync(`/proc/${p}/cmdline`, "latin1").includes("claude-agent-sdk-"))).toBe(true);

    const { all, call, done } = await expectToolLoopTurn(berth, s, ws, "written by claude");
    expect(data(all[call])).toMatchObject({ toolCallId: data(all[done]).toolCallId, kind: "execute" });
    // The default policy (allow) answered Claude Code's own permission request.
    expect(data(all.find(ofType("permission.resolved")))).toMatchObject({ by: "policy", kind: "allow_once" });

    // The mock saw berth's real key on every request (requireKey rejects anything else),
    // and every model request named the session's model: no side request for a Claude model.
    const calls = mock.requests.filter((r) => r.path.endsWith("/messages"));
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(mock.requests.every((r) => r.authOk === true)).toBe(true);
    expect(calls.every((r) => r.model === "claude-mock")).toBe(true);

    // No file the harness can see holds the key; the log and the event store don't either.
    const { files } = expectCanaryNowhere(berth, { sessionId: s.id, ws, all, canary: CANARY });
    expect(files.some((f) => f.endsWith(join(".claude", "settings.json")))).toBe(true);

    await expectEndedAndGone(berth, s.id);
  });

  it("asks the client before Bash: allow runs the tool, deny does not and the turn still ends", async () => {
    const { berth } = ctx;
    // allow
    const a = await askSession();
    const req = data(a.req);
    expect(req.policy).toBe("ask");
    expect(req.toolCall).toMatchObject({ kind: "execute", input: { command: expect.stringContaining("out.txt") } });
    expect(req.options.map((o: any) => o.kind)).toEqual(expect.arrayContaining(["allow_once", "reject_once"]));
    expect(existsSync(join(a.ws, "out.txt"))).toBe(false);
    const res = await fetch(`${berth.url}/v1/sessions/${a.s.id}/permissions/${req.permissionId}`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ decision: "allow" }),
    });
    expect(res.status).toBe(200);
    const rest = await collect(berth.client, a.s.id, turnEnded(a.turn.id), { after: a.after });
    expect(data(rest.find(ofType("permission.resolved")))).toMatchObject({ permissionId: req.permissionId, by: "client", kind: "allow_once" });
    expect(rest.some((e) => e.type === "tool.update" && data(e).status === "completed")).toBe(true);
    expect(data(rest.at(-1))).toMatchObject({ stopReason: "end_turn" });
    expect(readFileSync(join(a.ws, "out.txt"), "utf8")).toBe("written by claude");
    await berth.client.endSession(a.s.id);

    // deny
    const d = await askSession();
    await berth.client.answerPermission(d.s.id, data(d.req).permissionId, { decision: "deny" });
    const after = await collect(berth.client, d.s.id, turnEnded(d.turn.id), { after: d.after });
    expect(data(after.find(ofType("permission.resolved")))).toMatchObject({ by: "client", kind: "reject_once" });
    expect(after.some((e) => e.type === "tool.update" && data(e).status === "failed")).toBe(true);
    expect(after.some((e) => e.type === "tool.update" && data(e).status === "completed")).toBe(false);
    expect(data(after.at(-1))).toMatchObject({ stopReason: "end_turn" });
    expect(existsSync(join(d.ws, "out.txt"))).toBe(false);
    await berth.client.endSession(d.s.id);
  });

  it("denies when nobody answers within permissionTimeoutMs", async () => {
    const { berth } = ctx;
    const t = await askSession({ permissionTimeoutMs: 1500 });
    expect(data(t.req).expiresAt).toEqual(expect.any(String));
    const after = await collect(berth.client, t.s.id, turnEnded(t.turn.id), { after: t.after });
    const resolved = data(after.find(ofType("permission.resolved")));
    expect(resolved).toMatchObject({ permissionId: data(t.req).permissionId, by: "timeout", kind: "reject_once" });
    expect(after.some((e) => e.type === "tool.update" && data(e).status === "completed")).toBe(false);
    expect(data(after.at(-1))).toMatchObject({ stopReason: "end_turn" });
    expect(existsSync(join(t.ws, "out.txt"))).toBe(false);
    await berth.client.endSession(t.s.id);
  });
  it("resumes after a kill mid-turn, restored (ACP session/load) or rebuilt by berth, and carries the conversation on", async () => {
    const tool = { name: "bash", input: { command: "echo one > one.txt", description: "write one.txt" } };
    await expectResumeAfterCrash({ harness: "claude", tool, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) }, ({ evs }) => {
      expect(messageText(evs)).toContain("remembered");
    });
  });
  it("reads the session's Agent Skills from where berth mounts them (read-only)", async () => {
    await expectSkillSeen(ctx.berth, ctx.mock, "claude");
  });
  it("forks natively: the fork's Claude Code takes the copied conversation with ACP session/fork (context restored)", async () => {
    const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
    const mark = `FIG-${Date.now().toString(36)}`;
    const source = await berth.createSession({ harness: "claude" });
    await source.ready();
    expect((await source.prompt(`Remember ${mark}.`)).stopReason).toBe("end_turn");
    const fork = await source.fork();
    const events = await untilReady(fork);
    expect(events.at(-1)!.data).toMatchObject({ state: "ready", context: "restored" });
    // session/fork gives the fork an ACP session of its own; session/load would have kept the source's.
    const [src, forked] = [await source.refresh(), await fork.refresh()];
    expect(forked.acpSessionId).toBeTruthy();
    expect(forked.acpSessionId, ctx.berth.log().split("\n").filter((l) => l.includes(fork.id)).join("\n")).not.toBe(src.acpSessionId);
    ctx.mock.requests.length = 0;
    expect((await fork.prompt("What do you remember?")).stopReason).toBe("end_turn");
    expect(ctx.mock.requests.some((r) => r.body?.includes(mark))).toBe(true);
    await fork.end();
    await source.end();
  });
});
