import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { opencode } from "../../src/harnesses/opencode.js";
import {
  data,
  expectCanaryNowhere,
  expectEndedAndGone,
  expectGatewayTokenOnly,
  expectHarnessReported,
  expectNoCanaryInSessionProcesses,
  expectResumeAfterCrash,
  expectSkillSeen,
  expectToolLoopTurn,
  messageText,
  ofType,
  startReadySession,
  toolLoopScript,
  useMockedBerth,
} from "./harness-contract.js";

// A real OpenCode (from npm, its own ACP mode) in a real bubblewrap sandbox, through berth's
// HTTP API and gateway, against berth's scripted mock model (Anthropic Messages), which
// only accepts berth's real upstream key.
const CANARY = "sk-ant-api03-CANARY" + "Q".repeat(40);

// OpenCode's shell tool is bash {command, description}.
const script = toolLoopScript({ name: "bash", input: { command: "printf 'written by opencode' > out.txt && echo done", description: "write out.txt" } });

const opencodeEnv = (url: string) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" });
const ctx = useMockedBerth({ script, canary: CANARY, env: opencodeEnv });

describe("OpenCode in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const { berth, mock } = ctx;
    const { s, ws } = await startReadySession(berth, "opencode");
    expect(s.harnessVersion).toBe(opencode.version);

    // While the harness runs: its environment has the gateway token and never the real key;
    // OpenCode's own loopback API server has a password.
    const token = expectGatewayTokenOnly(s.id, CANARY, (env) => {
      expect(env.OPENCODE_SERVER_PASSWORD).toMatch(/^[\w-]{32}$/);
      expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    });

    const { all, call, done } = await expectToolLoopTurn(berth, s, ws, "written by opencode");
    const id = data(all[call]).toolCallId;
    expect(data(all[call])).toMatchObject({ kind: "execute" });
    expect(data(all[done]).toolCallId).toBe(id);
    // OpenCode sends the arguments in an update once it has parsed them.
    const withInput = all.find((e) => e.type === "tool.update" && data(e).toolCallId === id && data(e).input?.command);
    expect(data(withInput).input.command).toContain("out.txt");
    // bash is set to "ask", so berth's policy (default: allow) decided, not OpenCode.
    const asked = all.findIndex(ofType("permission.requested"));
    expect(asked).toBeGreaterThan(call);
    expect(done).toBeGreaterThan(asked);
    expect(data(all[asked]).toolCall).toMatchObject({ toolCallId: id });
    expect(data(all.find(ofType("permission.resolved")))).toMatchObject({ by: "policy", kind: "allow_once" });

    // Every request the mock saw was an Anthropic Messages call with berth's real key, so it
    // came through the gateway. The ones without tools are OpenCode's session title
    // requests (its small_model, the session's model here).
    expect(mock.requests.map((r) => `${r.method} ${r.path}`).filter((p) => p !== "POST /v1/messages")).toEqual([]);
    expect(mock.requests.every((r) => r.authOk === true && r.model === "claude-mock")).toBe(true);
    const turnCalls = mock.requests.filter((r) => r.tools.length > 0);
    expect(turnCalls.map((r) => r.reply)).toEqual(["tool_calls", "text"]);
    expect(turnCalls[0]!.tools).toContain("bash");
    for (const side of mock.requests.filter((r) => r.tools.length === 0)) expect(side.reply).toBe("side");
    // Nothing else tried to leave the sandbox: no models.dev catalogue, no npm registry.
    expect(berth.log()).not.toMatch(/egress (allowed|refused)/);

    expectNoCanaryInSessionProcesses(s.id, CANARY);

    // No file the harness can see holds the key or the token; the log and the store don't
    // hold the key either. OpenCode installed no plugin dependencies into its config dir.
    const { home, files } = expectCanaryNowhere(berth, { sessionId: s.id, ws, all, canary: CANARY, token });
    expect(files).toContain(join(home, ".config", "opencode", "opencode.json"));
    expect(files.filter((f) => f.includes("/node_modules/"))).toEqual([join(home, ".config", "opencode", "node_modules", ".berth")]);

    // What OpenCode said over ACP is now reported per harness.
    await expectHarnessReported(berth, "opencode", { agentInfo: { name: "OpenCode", version: opencode.version } });

    await expectEndedAndGone(berth, s.id);
  });

  it("resumes after a kill mid-turn: OpenCode reloads its session from the session's ~/.local/share/opencode (ACP session/load), or berth rebuilds it", { timeout: 300_000 }, async () => {
    const tool = { name: "bash", input: { command: "echo one > one.txt", description: "write one.txt" } };
    await expectResumeAfterCrash({ harness: "opencode", tool, canary: CANARY, env: opencodeEnv }, ({ convo, evs, context }) => {
      // Restored: the new turn's request carries the earlier tool results (the conversation was reloaded).
      if (context === "restored") expect(convo.requests.find((r) => r.tools.length > 0)!.toolResults).toBeGreaterThanOrEqual(1);
      expect(messageText(evs)).toContain("remembered");
    });
  });
  it("reads the session's Agent Skills from where berth mounts them (read-only)", async () => {
    await expectSkillSeen(ctx.berth, ctx.mock, "opencode");
  });
});
