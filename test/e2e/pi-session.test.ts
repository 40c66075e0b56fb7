import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  data,
  expectCanaryNowhere,
  expectEndedAndGone,
  expectGatewayTokenOnly,
  expectHarnessReported,
  expectResumeAfterCrash,
  expectToolLoopTurn,
  messageText,
  startReadySession,
  toolLoopScript,
  useMockedBerth,
} from "./harness-contract.js";
import { collect, isReady, processEnv, sessionPids } from "./helpers.js";

// A real Pi (from npm) in a real bubblewrap sandbox, through berth's HTTP API and gateway,
// against berth's scripted mock model, which only accepts berth's real upstream key.
const CANARY = "sk-ant-api03-CANARY" + "Q".repeat(40);

const script = toolLoopScript({ name: "bash", input: { command: "printf 'written by pi' > out.txt && echo done" } });

const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

describe("Pi in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const { berth, mock } = ctx;
    const { s, ws } = await startReadySession(berth, "pi");

    // While the harness runs: its environment has the gateway token and never the real key.
    expectGatewayTokenOnly(s.id, CANARY, (env) => expect(env.ANTHROPIC_API_KEY).toBeUndefined());

    const { all, call } = await expectToolLoopTurn(berth, s, ws, "written by pi");
    expect(data(all[call])).toMatchObject({ kind: expect.any(String), status: expect.any(String) });

    // The mock saw berth's real key on every model request (requireKey rejects anything else).
    const calls = mock.requests.filter((r) => r.path.endsWith("/messages"));
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((r) => r.authOk === true)).toBe(true);

    // No file the harness can see holds the key; the log and the event store don't either.
    expectCanaryNowhere(berth, { sessionId: s.id, ws, all, canary: CANARY });

    // What Pi said over ACP is now reported per harness.
    await expectHarnessReported(berth, "pi", { loadSession: true, agentInfo: { name: "pi-acp" }, mcp: { stdio: true } });

    await expectEndedAndGone(berth, s.id);
  });

  it("rejects a wrong or revoked gateway token with 401", async () => {
    const { berth } = ctx;
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const [pid] = sessionPids(s.id);
    const env = processEnv(pid!);
    const token = env.BERTH_GATEWAY_TOKEN!;
    const gw = /baseUrl": "([^"]+)"/.exec(readFileSync(join(berth.home, "sessions", s.id, "home", ".pi/agent/models.json"), "utf8"))![1]!;
    const post = (key: string) =>
      fetch(`${gw}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
        // The session's own model: the gateway refuses any other (test/e2e/security/gateway-scope.test.ts).
        body: JSON.stringify({ model: "claude-mock", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
      });
    expect((await post("bgt_wrong")).status).toBe(401);
    expect((await post(token)).status).toBe(200);
    await berth.client.endSession(s.id);
    expect((await post(token)).status).toBe(401);
  });
  it("resumes after a kill mid-turn, restored (ACP session/load) or rebuilt by berth, and carries the conversation on", async () => {
    const tool = { name: "bash", input: { command: "echo one > one.txt" } };
    await expectResumeAfterCrash({ harness: "pi", tool, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) }, ({ evs }) => {
      expect(messageText(evs)).toContain("remembered");
    });
  });
});
