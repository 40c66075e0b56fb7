import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codex, codexBinary, codexConfig } from "../../src/harnesses/codex.js";
import { HarnessInstaller } from "../../src/harnesses/installer.js";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import {
  assertContiguous,
  collect,
  HARNESS_CACHE,
  isReady,
  processEnv,
  sessionPids,
  startBerth,
  turnEnded,
  walk,
  type BerthProc,
} from "./helpers.js";

// A real Codex CLI (from npm, through codex-acp) in a real bubblewrap sandbox, through
// berth's HTTP API and gateway, against berth's scripted mock model (Responses API), which
// only accepts berth's real upstream key.
const CANARY = "sk-proj-CANARY" + "Q".repeat(40);

// Codex 0.166 offers its shell as `exec_command` (unified exec) taking `cmd` as a string.
const script = parseMockScript(`
steps:
  - text: "I'll write the file."
    tool: { name: exec_command, input: { cmd: "printf 'written by codex' > out.txt && echo done" } }
  - text: "The file out.txt is written."
`);

let mock: MockProvider;
let berth: BerthProc;

beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: CANARY });
  berth = await startBerth({ env: { OPENAI_API_KEY: CANARY, OPENAI_BASE_URL: mock.url, BERTH_MODEL: "gpt-mock" } });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

describe("Codex in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ws-"));
    const s = await berth.client.createSession({ harness: "codex", workspace: ws });
    expect(s.tier).toBe("process");
    expect(s.harnessVersion).toBe(codex.version);
    await collect(berth.client, s.id, isReady);

    // While the harness runs: its environment has the gateway token and never the real key.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    let token = "";
    for (const pid of pids) {
      const env = processEnv(pid);
      expect(env.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
      token = env.BERTH_GATEWAY_TOKEN!;
      expect(JSON.stringify(env)).not.toContain(CANARY);
      expect(env.OPENAI_API_KEY).toBeUndefined();
      expect(env.CODEX_API_KEY).toBeUndefined();
    }

    const turn = await berth.client.postTurn(s.id, "write out.txt");
    const events = await collect(berth.client, s.id, turnEnded(turn.id));
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written by codex");

    const all = (await berth.client.eventsPage(s.id)).events;
    assertContiguous(all);
    const types = all.map((e) => e.type);
    const call = all.findIndex((e) => e.type === "tool.call");
    const done = all.findIndex((e) => e.type === "tool.update" && (e.data as any).status === "completed");
    const finalText = all.findLastIndex((e) => e.type === "message.delta");
    const textAfterTool = all.slice(done).filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("");
    expect(textAfterTool).toBe("The file out.txt is written.");
    // berth advertises ACP notices, so Codex's "unknown model metadata" warning is not assistant text.
    const allText = all.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("");
    expect(allText).not.toMatch(/Warning: Model metadata/);
    const ended = types.lastIndexOf("turn.ended");
    expect(call).toBeGreaterThan(types.indexOf("turn.started"));
    expect(done).toBeGreaterThan(call);
    expect(finalText).toBeGreaterThan(done);
    expect(ended).toBeGreaterThan(finalText);
    expect(all[call]!.data).toMatchObject({ kind: "execute", input: { command: expect.stringContaining("out.txt") } });
    expect((all[done]!.data as any).toolCallId).toBe((all[call]!.data as any).toolCallId);
    expect(all[ended]!.data).toMatchObject({ stopReason: "end_turn" });
    expect(all.filter((e) => e.type === "model.call").length).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)!.type).toBe("turn.ended");

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

    // The harness tree (now including tool processes' parents) still has no real key.
    for (const pid of sessionPids(s.id)) expect(readFileSync(`/proc/${pid}/environ`, "latin1")).not.toContain(CANARY);

    // No file the harness can see holds the key or the token; the log and the store don't
    // hold the key either.
    const home = join(berth.home, "sessions", s.id, "home");
    const files = walk(home);
    expect(files).toContain(join(home, ".codex", "config.toml"));
    for (const f of [...files, ...walk(ws)]) {
      const text = readFileSync(f, "latin1");
      expect(text).not.toContain(CANARY);
      expect(text, f).not.toContain(token);
    }
    expect(JSON.stringify(all)).not.toContain(CANARY);
    expect(berth.log()).not.toContain(CANARY);
    expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(CANARY);

    await berth.client.endSession(s.id);
    expect(sessionPids(s.id)).toEqual([]);
    expect(existsSync(home)).toBe(false);
    expect((await berth.client.getSession(s.id)).state).toBe("ended");
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

  it("resumes after a berth crash: Codex reloads its thread from the session's CODEX_HOME (ACP session/load)", async () => {
    const convo = await startMockProvider({
      script: parseMockScript(`
steps:
  - tool: { name: exec_command, input: { cmd: "echo one > one.txt" } }
  - text: "remembered"
`),
      requireKey: CANARY,
    });
    const home = mkdtempSync(join(tmpdir(), "berth-codex-resume-"));
    const env = { OPENAI_API_KEY: CANARY, OPENAI_BASE_URL: convo.url, BERTH_MODEL: "gpt-mock" };
    const first = await startBerth({ home, env });
    const s = await first.client.createSession({ harness: "codex" });
    await collect(first.client, s.id, isReady);
    const t1 = await first.client.postTurn(s.id, "first");
    await collect(first.client, s.id, turnEnded(t1.id));
    await first.stop("SIGKILL");

    const again = await startBerth({ home, env });
    try {
      expect((await again.client.getSession(s.id)).state).toBe("interrupted");
      const lastSeq = (await again.client.getSession(s.id)).lastSeq;
      await again.client.request("POST", `/v1/sessions/${s.id}/resume`);
      const ready = await collect(again.client, s.id, isReady, { after: lastSeq });
      expect(ready.at(-1)!.data).toMatchObject({ resumed: true });
      convo.requests.length = 0;
      const t2 = await again.client.postTurn(s.id, "second");
      const evs = await collect(again.client, s.id, turnEnded(t2.id), { after: lastSeq });
      expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
      // The new turn's request carries the first turn's tool result: the thread was reloaded.
      expect(convo.requests.find((r) => r.model === "gpt-mock")!.toolResults).toBe(1);
      expect(evs.filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("")).toContain("remembered");
    } finally {
      await again.stop();
      await convo.close();
    }
  });

  it("refuses a codex session whose model has no usable provider, naming what is missing", async () => {
    const anthropicOnly = await startBerth({ env: { ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: mock.url, BERTH_MODEL: "claude-mock" } });
    try {
      // An OpenAI model without OPENAI_API_KEY: the secret is named, never a fallback to Anthropic.
      const err = await anthropicOnly.client.createSession({ harness: "codex", model: "gpt-5" }).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 400, code: "missing_secret" });
      expect((err as Error).message).toContain("OPENAI_API_KEY");
      // The default (Claude) model over Codex's OpenAI wire API: no provider speaks both.
      const mismatch = await anthropicOnly.client.createSession({ harness: "codex" }).catch((e: unknown) => e);
      expect(mismatch).toMatchObject({ status: 400, code: "api_mismatch" });
      expect(await anthropicOnly.client.listSessions()).toEqual([]);
    } finally {
      await anthropicOnly.stop();
    }
  });
});
