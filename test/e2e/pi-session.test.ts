import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

// A real Pi (from npm) in a real bubblewrap sandbox, through berth's HTTP API and gateway,
// against berth's scripted mock model, which only accepts berth's real upstream key.
const CANARY = "sk-ant-api03-CANARY" + "Q".repeat(40);

const script = parseMockScript(`
steps:
  - text: "I'll write the file."
    tool: { name: bash, input: { command: "printf 'written by pi' > out.txt && echo done" } }
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

describe("Pi in T1 through the API", () => {
  it("runs a tool loop that writes a file, with ordered gap-free events, and keys only in the gateway", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ws-"));
    const s = await berth.client.createSession({ harness: "pi", workspace: ws });
    expect(s.tier).toBe("process");
    await collect(berth.client, s.id, isReady);

    // While the harness runs: its environment has the gateway token and never the real key.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      const env = processEnv(pid);
      expect(env.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
      expect(JSON.stringify(env)).not.toContain(CANARY);
      expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    }

    const turn = await berth.client.postTurn(s.id, "write out.txt");
    const events = await collect(berth.client, s.id, turnEnded(turn.id));
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written by pi");

    const all = (await berth.client.eventsPage(s.id)).events;
    assertContiguous(all);
    const types = all.map((e) => e.type);
    const call = all.findIndex((e) => e.type === "tool.call");
    const done = all.findIndex((e) => e.type === "tool.update" && (e.data as any).status === "completed");
    const finalText = all.findLastIndex((e) => e.type === "message.delta");
    const textAfterTool = all.slice(done).filter((e) => e.type === "message.delta").map((e) => (e.data as any).text).join("");
    expect(textAfterTool).toBe("The file out.txt is written.");
    const ended = types.lastIndexOf("turn.ended");
    expect(call).toBeGreaterThan(types.indexOf("turn.started"));
    expect(done).toBeGreaterThan(call);
    expect(finalText).toBeGreaterThan(done);
    expect(ended).toBeGreaterThan(finalText);
    expect(all[call]!.data).toMatchObject({ kind: expect.any(String), status: expect.any(String) });
    expect(all[ended]!.data).toMatchObject({ stopReason: "end_turn" });
    expect(all.filter((e) => e.type === "model.call").length).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)!.type).toBe("turn.ended");

    // The mock saw berth's real key on every model request (requireKey rejects anything else).
    const calls = mock.requests.filter((r) => r.path.endsWith("/messages"));
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((r) => r.authOk === true)).toBe(true);

    // No file the harness can see holds the key; the log and the event store don't either.
    const home = join(berth.home, "sessions", s.id, "home");
    for (const f of [...walk(home), ...walk(ws)]) expect(readFileSync(f, "latin1")).not.toContain(CANARY);
    expect(JSON.stringify(all)).not.toContain(CANARY);
    expect(berth.log()).not.toContain(CANARY);
    expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(CANARY);

    // What Pi said over ACP is now reported per harness.
    const hs = (await berth.client.request<any>("GET", "/v1/harnesses")).body.harnesses;
    expect(hs.find((h: any) => h.id === "pi")).toMatchObject({
      installed: true,
      capabilities: { loadSession: true, agentInfo: { name: "pi-acp" }, mcp: { stdio: true } },
    });

    await berth.client.endSession(s.id);
    expect(sessionPids(s.id)).toEqual([]);
    expect(existsSync(home)).toBe(false);
    expect((await berth.client.getSession(s.id)).state).toBe("ended");
  });

  it("rejects a wrong or revoked gateway token with 401", async () => {
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
        body: JSON.stringify({ model: "mock-1", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
      });
    expect((await post("bgt_wrong")).status).toBe(401);
    expect((await post(token)).status).toBe(200);
    await berth.client.endSession(s.id);
    expect((await post(token)).status).toBe(401);
  });
});
