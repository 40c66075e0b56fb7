import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opencode } from "../../src/harnesses/opencode.js";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import {
  assertContiguous,
  collect,
  isReady,
  processEnv,
  sessionPids,
  startBerth,
  turnEnded,
  walk,
  type BerthProc,
} from "./helpers.js";

// A real OpenCode (from npm, its own ACP mode) in a real bubblewrap sandbox, through berth's
// HTTP API and gateway, against berth's scripted mock model (Anthropic Messages), which
// only accepts berth's real upstream key.
const CANARY = "sk-ant-api03-CANARY" + "Q".repeat(40);

// OpenCode's shell tool is bash {command, description}.
const script = parseMockScript(`
steps:
  - text: "I'll write the file."
    tool: { name: bash, input: { command: "printf 'written by opencode' > out.txt && echo done", description: "write out.txt" } }
  - text: "The file out.txt is written."
`);

let mock: MockProvider;
let berth: BerthProc;

beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: CANARY });
  berth = await startBerth({ env: { ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: mock.url, BERTH_MODEL: "claude-mock" } });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

const data = (e: { data: unknown } | undefined) => e?.data as any;

describe("OpenCode in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ws-"));
    const s = await berth.client.createSession({ harness: "opencode", workspace: ws });
    expect(s.tier).toBe("process");
    expect(s.harnessVersion).toBe(opencode.version);
    await collect(berth.client, s.id, isReady);

    // While the harness runs: its environment has the gateway token and never the real key;
    // OpenCode's own loopback API server has a password.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    let token = "";
    for (const pid of pids) {
      const env = processEnv(pid);
      expect(env.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
      token = env.BERTH_GATEWAY_TOKEN!;
      expect(env.OPENCODE_SERVER_PASSWORD).toMatch(/^[\w-]{32}$/);
      expect(JSON.stringify(env)).not.toContain(CANARY);
      expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    }

    const turn = await berth.client.postTurn(s.id, "write out.txt");
    const events = await collect(berth.client, s.id, turnEnded(turn.id));
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written by opencode");

    const all = (await berth.client.eventsPage(s.id)).events;
    assertContiguous(all);
    const types = all.map((e) => e.type);
    const call = all.findIndex((e) => e.type === "tool.call");
    const done = all.findIndex((e) => e.type === "tool.update" && data(e).status === "completed");
    const finalText = all.findLastIndex((e) => e.type === "message.delta");
    const textAfterTool = all.slice(done).filter((e) => e.type === "message.delta").map((e) => data(e).text).join("");
    expect(textAfterTool).toBe("The file out.txt is written.");
    const ended = types.lastIndexOf("turn.ended");
    expect(call).toBeGreaterThan(types.indexOf("turn.started"));
    expect(done).toBeGreaterThan(call);
    expect(finalText).toBeGreaterThan(done);
    expect(ended).toBeGreaterThan(finalText);
    const id = data(all[call]).toolCallId;
    expect(data(all[call])).toMatchObject({ kind: "execute" });
    expect(data(all[done]).toolCallId).toBe(id);
    // OpenCode sends the arguments in an update once it has parsed them.
    const withInput = all.find((e) => e.type === "tool.update" && data(e).toolCallId === id && data(e).input?.command);
    expect(data(withInput).input.command).toContain("out.txt");
    // bash is set to "ask", so berth's policy (default: allow) decided, not OpenCode.
    const asked = all.findIndex((e) => e.type === "permission.requested");
    expect(asked).toBeGreaterThan(call);
    expect(done).toBeGreaterThan(asked);
    expect(data(all[asked]).toolCall).toMatchObject({ toolCallId: id });
    expect(data(all.find((e) => e.type === "permission.resolved"))).toMatchObject({ by: "policy", kind: "allow_once" });
    expect(all[ended]!.data).toMatchObject({ stopReason: "end_turn" });
    expect(all.filter((e) => e.type === "model.call").length).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)!.type).toBe("turn.ended");

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

    // The harness tree (now including tool processes' parents) still has no real key.
    for (const pid of sessionPids(s.id)) expect(readFileSync(`/proc/${pid}/environ`, "latin1")).not.toContain(CANARY);

    // No file the harness can see holds the key or the token; the log and the store don't
    // hold the key either. OpenCode installed no plugin dependencies into its config dir.
    const home = join(berth.home, "sessions", s.id, "home");
    const files = walk(home);
    expect(files).toContain(join(home, ".config", "opencode", "opencode.json"));
    expect(files.filter((f) => f.includes("/node_modules/"))).toEqual([join(home, ".config", "opencode", "node_modules", ".berth")]);
    for (const f of [...files, ...walk(ws)]) {
      const text = readFileSync(f, "latin1");
      expect(text).not.toContain(CANARY);
      expect(text, f).not.toContain(token);
    }
    expect(JSON.stringify(all)).not.toContain(CANARY);
    expect(berth.log()).not.toContain(CANARY);
    expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(CANARY);

    // What OpenCode said over ACP is now reported per harness.
    const hs = (await berth.client.request<any>("GET", "/v1/harnesses")).body.harnesses;
    expect(hs.find((h: any) => h.id === "opencode")).toMatchObject({
      installed: true,
      capabilities: { agentInfo: { name: "OpenCode", version: opencode.version } },
    });

    await berth.client.endSession(s.id);
    expect(sessionPids(s.id)).toEqual([]);
    expect(existsSync(home)).toBe(false);
    expect((await berth.client.getSession(s.id)).state).toBe("ended");
  });
  it("resumes after a berth crash: OpenCode reloads its session from the session's ~/.local/share/opencode (ACP session/load)", { timeout: 300_000 }, async () => {
    const convo = await startMockProvider({
      script: parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo one > one.txt", description: "write one.txt" } }
  - text: "remembered"
`),
      requireKey: CANARY,
    });
    const home = mkdtempSync(join(tmpdir(), "berth-opencode-resume-"));
    const env = { ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: convo.url, BERTH_MODEL: "claude-mock" };
    const first = await startBerth({ home, env });
    const s = await first.client.createSession({ harness: "opencode" });
    await collect(first.client, s.id, isReady);
    const t1 = await first.client.postTurn(s.id, "first");
    await collect(first.client, s.id, turnEnded(t1.id));
    await first.stop("SIGKILL");

    const again = await startBerth({ home, env });
    try {
      expect((await again.client.getSession(s.id)).state).toBe("interrupted");
      const lastSeq = (await again.client.getSession(s.id)).lastSeq;
      await again.client.request("POST", `/v1/sessions/${s.id}/resume`, {});
      const ready = await collect(again.client, s.id, isReady, { after: lastSeq });
      expect(ready.at(-1)!.data).toMatchObject({ resumed: true });
      convo.requests.length = 0;
      const t2 = await again.client.postTurn(s.id, "second");
      const evs = await collect(again.client, s.id, turnEnded(t2.id), { after: lastSeq });
      expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
      // The new turn's request carries the first turn's tool result: the conversation was reloaded.
      expect(convo.requests.find((r) => r.tools.length > 0)!.toolResults).toBe(1);
      expect(evs.filter((e) => e.type === "message.delta").map((e) => data(e).text).join("")).toContain("remembered");
    } finally {
      await again.stop();
      await convo.close();
    }
  });
});
