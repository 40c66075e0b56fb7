import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gemini } from "../../src/harnesses/gemini.js";
import {
  data,
  expectCanaryNowhere,
  expectEndedAndGone,
  expectGatewayTokenOnly,
  expectHarnessReported,
  expectNoCanaryInSessionProcesses,
  expectRefusedWithoutProvider,
  expectResumeAfterCrash,
  expectSkillSeen,
  messageText,
  expectToolLoopTurn,
  ofType,
  startReadySession,
  toolLoopScript,
  useMockedBerth,
} from "./harness-contract.js";

// A real Gemini CLI (from npm, its own ACP mode) in a real bubblewrap sandbox, through
// berth's HTTP API and gateway, against berth's scripted mock model (Gemini API), which
// only accepts berth's real upstream key.
const CANARY = "AIzaSyCANARY" + "Q".repeat(27);

// Gemini CLI's shell tool is run_shell_command {command, description}. env.txt shows what a
// command the agent runs sees of the environment.
const script = toolLoopScript({
  name: "run_shell_command",
  input: { command: "printf 'written by gemini' > out.txt && env > env.txt && echo done", description: "write out.txt" },
});

const geminiEnv = (url: string) => ({ GEMINI_API_KEY: CANARY, GOOGLE_GEMINI_BASE_URL: url, BERTH_MODEL: "gemini-mock" });
const ctx = useMockedBerth({ script, canary: CANARY, env: geminiEnv });

describe("Gemini CLI in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const { berth, mock } = ctx;
    const { s, ws } = await startReadySession(berth, "gemini");
    expect(s.harnessVersion).toBe(gemini.version);

    // While the harness runs: its environment has the gateway token, as Gemini CLI's API
    // key, and never the real key.
    const token = expectGatewayTokenOnly(s.id, CANARY, (env, gatewayToken) => {
      expect(env.GEMINI_API_KEY).toBe(gatewayToken);
      expect(env.GOOGLE_GEMINI_BASE_URL).toMatch(/\/google$/);
      expect(env.GOOGLE_API_KEY).toBeUndefined();
    });

    const { all, call, done } = await expectToolLoopTurn(berth, s, ws, "written by gemini");
    // Gemini CLI announces a tool call that needs confirmation only inside its ACP
    // session/request_permission; berth derives the tool.call from it, before the request.
    expect(call).toBeLessThan(all.findIndex(ofType("permission.requested")));
    const announced = data(all[call]);
    expect(announced).toMatchObject({ kind: "execute", title: expect.stringContaining("out.txt") });
    expect(data(all[done]).toolCallId).toBe(announced.toolCallId);
    // The default policy (allow) answered Gemini CLI's own confirmation request.
    expect(data(all.find(ofType("permission.resolved")))).toMatchObject({ by: "policy", kind: "allow_once" });

    // Every request the mock saw was a Gemini API call for the session's model with berth's
    // real key, so it came through the gateway: no router, classifier or telemetry calls.
    expect(mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1beta/models/gemini-mock:streamGenerateContent",
      "POST /v1beta/models/gemini-mock:streamGenerateContent",
    ]);
    expect(mock.requests.every((r) => r.authOk === true)).toBe(true);
    expect(mock.requests.map((r) => r.reply)).toEqual(["tool_calls", "text"]);
    expect(mock.requests[0]!.tools).toContain("run_shell_command");
    // Nor did anything else try to leave the sandbox (usage statistics, update checks).
    expect(berth.log()).not.toMatch(/egress (allowed|refused)/);

    expectNoCanaryInSessionProcesses(s.id, CANARY);

    // Commands the agent runs do not get the gateway token (Gemini CLI's env redaction).
    const toolEnv = readFileSync(join(ws, "env.txt"), "utf8");
    expect(toolEnv).toMatch(/^HOME=\/home\/agent$/m);
    expect(toolEnv).not.toMatch(/^(BERTH_GATEWAY_TOKEN|GEMINI_API_KEY)=/m);

    // No file the harness can see holds the key or the token (env.txt included); the log
    // and the store don't hold the key either.
    const { home, files } = expectCanaryNowhere(berth, { sessionId: s.id, ws, all, canary: CANARY, token });
    expect(files).toContain(join(home, ".gemini", "settings.json"));

    // What Gemini CLI said over ACP is now reported per harness.
    await expectHarnessReported(berth, "gemini", { agentInfo: { name: "gemini-cli", version: gemini.version } });

    await expectEndedAndGone(berth, s.id);
  });

  it("refuses a gemini session whose model has no usable provider, naming what is missing", async () => {
    // A Gemini model without GEMINI_API_KEY: the secret is named, never a fallback to Anthropic.
    // The default (Claude) model over Gemini CLI's Gemini API: no provider speaks both.
    await expectRefusedWithoutProvider({ harness: "gemini", model: "gemini-2.5-pro", secret: "GEMINI_API_KEY", canary: CANARY, anthropicUrl: ctx.mock.url });
  });

  it("resumes after a kill mid-turn: restored from ~/.gemini (ACP session/load) or, where Gemini CLI's load fails, rebuilt by berth", { timeout: 300_000 }, async () => {
    const tool = { name: "run_shell_command", input: { command: "echo one > one.txt" } };
    // Gemini CLI 0.61 answers session/load after a kill with -32603 (or loads an empty chat
    // when resumed within the minute the session was created): berth then rebuilds the
    // conversation from its log. Which one happened is in the ready event; both carry it on.
    await expectResumeAfterCrash({ harness: "gemini", tool, canary: CANARY, env: geminiEnv }, ({ evs }) => {
      expect(messageText(evs)).toContain("remembered");
    });
  });
  it("reads the session's Agent Skills from where berth mounts them (read-only)", async () => {
    await expectSkillSeen(ctx.berth, ctx.mock, "gemini");
  });
});
