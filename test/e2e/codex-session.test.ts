import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { codex, codexBinary, codexConfig } from "../../src/harnesses/codex.js";
import { HarnessInstaller } from "../../src/harnesses/installer.js";
import {
  data,
  expectCanaryNowhere,
  expectEndedAndGone,
  expectGatewayTokenOnly,
  expectNoCanaryInSessionProcesses,
  expectRefusedWithoutProvider,
  expectResumeAfterCrash,
  expectSkillSeen,
  expectToolLoopTurn,
  messageText,
  startReadySession,
  toolLoopScript,
  useMockedBerth,
} from "./harness-contract.js";
import { HARNESS_CACHE } from "./helpers.js";

// A real Codex CLI (from npm, through codex-acp) in a real bubblewrap sandbox, through
// berth's HTTP API and gateway, against berth's scripted mock model (Responses API), which
// only accepts berth's real upstream key.
const CANARY = "sk-proj-CANARY" + "Q".repeat(40);

// Codex 0.166 offers its shell as `exec_command` (unified exec) taking `cmd` as a string.
const script = toolLoopScript({ name: "exec_command", input: { cmd: "printf 'written by codex' > out.txt && echo done" } });

const codexEnv = (url: string) => ({ OPENAI_API_KEY: CANARY, OPENAI_BASE_URL: url, BERTH_MODEL: "gpt-mock" });
const ctx = useMockedBerth({ script, canary: CANARY, env: codexEnv });

describe("Codex in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const { berth, mock } = ctx;
    const { s, ws } = await startReadySession(berth, "codex");
    expect(s.harnessVersion).toBe(codex.version);

    // While the harness runs: its environment has the gateway token and never the real key.
    const token = expectGatewayTokenOnly(s.id, CANARY, (env) => {
      expect(env.OPENAI_API_KEY).toBeUndefined();
      expect(env.CODEX_API_KEY).toBeUndefined();
    });

    const { all, call, done } = await expectToolLoopTurn(berth, s, ws, "written by codex");
    // berth advertises ACP notices, so Codex's "unknown model metadata" warning is not assistant text.
    expect(messageText(all)).not.toMatch(/Warning: Model metadata/);
    expect(data(all[call])).toMatchObject({ kind: "execute", input: { command: expect.stringContaining("out.txt") } });
    expect(data(all[done]).toolCallId).toBe(data(all[call]).toolCallId);

    // After the first turn codex-acp asks a fixed small model (not the session's) for a
    // session title, fire-and-forget, through the same provider. Give it a moment to land.
    for (let i = 0; i < 30 && !mock.requests.some((r) => r.model !== "gpt-mock"); i++) await new Promise((r) => setTimeout(r, 100));

    // Every request the mock saw was a Responses call with berth's real key, so it came
    // through the gateway: no models list, plugin sync or telemetry went anywhere else.
    // Requests for another model are tool-less side requests (the title).
    expect(mock.requests.length).toBeGreaterThanOrEqual(2);
    expect(mock.requests.map((r) => r.path).filter((p) => p !== "/v1/responses")).toEqual([]);
    expect(mock.requests.every((r) => r.authOk === true)).toBe(true);
    const turnCalls = mock.requests.filter((r) => r.model === "gpt-mock");
    expect(turnCalls.map((r) => r.reply)).toEqual(["tool_calls", "text"]);
    expect(turnCalls[0]!.tools).toContain("exec_command");
    for (const side of mock.requests.filter((r) => r.model !== "gpt-mock")) expect(side).toMatchObject({ tools: [], reply: "side" });

    expectNoCanaryInSessionProcesses(s.id, CANARY);

    // No file the harness can see holds the key or the token; the log and the store don't
    // hold the key either.
    const { home, files } = expectCanaryNowhere(berth, { sessionId: s.id, ws, all, canary: CANARY, token });
    expect(files).toContain(join(home, ".codex", "config.toml"));

    await expectEndedAndGone(berth, s.id);
  });

  it("writes a config.toml that the installed Codex accepts under --strict-config", async () => {
    const dir = new HarnessInstaller(HARNESS_CACHE).installed(codex);
    expect(dir).toBeDefined();
    const bin = codexBinary(join(dir!, "node_modules"))!;
    const codexHome = mkdtempSync(join(tmpdir(), "codex-home-"));
    writeFileSync(join(codexHome, "config.toml"), codexConfig({ model: "gpt-mock", baseUrl: "http://127.0.0.1:9/openai/v1", tokenEnv: "BERTH_GATEWAY_TOKEN" }));
    // Unknown keys (a renamed setting after an upgrade) are errors under --strict-config.
    const { stdout } = await promisify(execFile)(bin, ["app-server", "--strict-config", "--print-startup-config"], {
      env: { PATH: process.env.PATH!, HOME: codexHome, CODEX_HOME: codexHome },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toMatchObject({ appServerVersion: codex.version });
  });

  it("resumes after a kill mid-turn: Codex reloads its thread from the session's CODEX_HOME (ACP session/load), or berth rebuilds it", async () => {
    const tool = { name: "exec_command", input: { cmd: "echo one > one.txt" } };
    await expectResumeAfterCrash({ harness: "codex", tool, canary: CANARY, env: codexEnv }, ({ convo, evs, context }) => {
      // Restored: the new turn's request carries the earlier tool results (the thread was reloaded).
      if (context === "restored") expect(convo.requests.find((r) => r.model === "gpt-mock")!.toolResults).toBeGreaterThanOrEqual(1);
      expect(messageText(evs)).toContain("remembered");
    });
  });

  it("refuses a codex session whose model has no usable provider, naming what is missing", async () => {
    // An OpenAI model without OPENAI_API_KEY: the secret is named, never a fallback to Anthropic.
    // The default (Claude) model over Codex's OpenAI wire API: no provider speaks both.
    await expectRefusedWithoutProvider({ harness: "codex", model: "gpt-5", secret: "OPENAI_API_KEY", canary: CANARY, anthropicUrl: ctx.mock.url });
  });
  it("reads the session's Agent Skills from where berth mounts them (read-only)", async () => {
    await expectSkillSeen(ctx.berth, ctx.mock, "codex");
  });
});
