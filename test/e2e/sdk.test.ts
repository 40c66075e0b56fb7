import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import createClient from "openapi-fetch";
import { Berth, BerthError, type BerthEvent, type PermissionRequest } from "../../packages/client/src/index.js";
import { startLocalServer } from "../../packages/client/src/local.js";
import type { paths } from "../../packages/client/src/schema.js";
import { FINAL_TEXT, toolLoopScript, useMockedBerth, WRITE_PROMPT } from "./harness-contract.js";
import { API_TOKEN, HARNESS_CACHE, newWorkspace, REPO } from "./helpers.js";

// The SDK (packages/client) driving real harnesses in real T1 sandboxes through a real berth:
// Pi for a tool-call prompt and an event stream whose connection is cut twice, Claude Code
// (which asks before Bash) for permissions and cancel; then the README's examples, run as
// written against the same server, from the built package.
const CANARY = "sk-ant-api03-SDKCANARY" + "S".repeat(40);
const script = toolLoopScript({ name: "bash", input: { command: "printf 'written through the sdk' > out.txt && echo done", description: "Write out.txt" } });
const ctx = useMockedBerth({ script, canary: CANARY, env: (url) => ({ ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: url, BERTH_MODEL: "claude-mock" }) });

/** A fetch whose first `cuts` event streams die mid-frame after ~`after` bytes, as a dropped network would. */
function cuttingFetch(cuts: number, after: number): { fetch: typeof fetch; cut: () => number } {
  let done = 0;
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const sse = new Headers(init?.headers).get("accept") === "text/event-stream";
    if (!sse || !res.body || res.status !== 200 || done >= cuts) return res;
    const reader = res.body.getReader();
    let seen = 0;
    let cutting = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (cutting) return c.error(new TypeError("terminated: other side closed"));
        const { value, done: end } = await reader.read();
        if (end) return c.close();
        if (seen + value.byteLength > after) {
          cutting = true;
          done++;
          c.enqueue(value.slice(0, Math.max(1, after - seen)));
          await reader.cancel();
          return;
        }
        seen += value.byteLength;
        c.enqueue(value);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: f, cut: () => done };
}

describe("the SDK against a real berth", () => {
  it("Pi: create, a prompt with a tool call, events across two cut connections exactly once, typed errors, end", async () => {
    const { url } = ctx.berth;
    const cutter = cuttingFetch(2, 700);
    const berth = Berth.connect({ baseUrl: url, token: API_TOKEN, fetch: cutter.fetch });
    expect(await berth.health()).toEqual({ status: "ok" });
    expect((await berth.harnesses()).map((h) => h.id)).toContain("pi");

    const ws = newWorkspace();
    const session = await berth.createSession({ harness: "pi", workspace: ws });
    expect((await session.ready()).state).toBe("ready");
    const streamed: BerthEvent[] = [];
    const result = await session.prompt(WRITE_PROMPT, { onEvent: (ev) => streamed.push(ev), idempotencyKey: "sdk-1" });
    expect(result.stopReason).toBe("end_turn");
    expect(result.turn).toMatchObject({ state: "completed", idempotencyKey: "sdk-1" });
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written through the sdk");
    expect(result.text).toContain(FINAL_TEXT);
    expect(result.usage.modelCalls).toBeGreaterThanOrEqual(2);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.events.map((e) => e.type)).toEqual(expect.arrayContaining(["turn.started", "tool.call", "tool.update", "model.call", "turn.ended"]));
    expect(streamed).toEqual(result.events);
    // The streams were cut mid-frame; the iterator resumed each time.
    expect(cutter.cut()).toBe(2);

    // Typed errors from the API.
    await expect(berth.session("ses_doesnotexist")).rejects.toMatchObject({ status: 404, code: "session_not_found" });
    const noTurn = await session.cancel().catch((e: unknown) => e);
    expect(noTurn).toBeInstanceOf(BerthError);
    expect(noTurn).toMatchObject({ status: 409, code: "no_running_turn" });

    expect((await session.end()).state).toBe("ended");
    // The whole log through the iterator: every event once, in order, as the server stored it.
    const all: BerthEvent[] = [];
    for await (const ev of session.events()) all.push(ev);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    const stored = (await ctx.berth.client.eventsPage(session.id, 0, 5000)).events;
    expect(all).toEqual(stored);
    expect(all.at(-1)).toMatchObject({ type: "session.status", data: { state: "ended" } });
  });

  it("a client generated from the OpenAPI document (openapi-typescript + openapi-fetch) reads events as JSON, typed, without hanging", async () => {
    const client = createClient<paths>({ baseUrl: ctx.berth.url, headers: { authorization: `Bearer ${API_TOKEN}` } });
    const created = await client.POST("/v1/sessions", { body: { harness: "pi" } });
    expect(created.response.status).toBe(201);
    const id = created.data!.id;
    // No Accept header of its own choosing beyond JSON: the events route answers a page, not a stream.
    const page = await client.GET("/v1/sessions/{id}/events", { params: { path: { id }, query: { after: "0" } }, signal: AbortSignal.timeout(10_000) });
    expect(page.response.headers.get("content-type")).toContain("application/json");
    const data = page.data;
    if (!data || typeof data === "string") throw new Error(`expected a JSON page, got ${typeof data}`);
    expect(data.events[0]).toMatchObject({ seq: 1, type: "session.status" });
    const missing = await client.GET("/v1/sessions/{id}", { params: { path: { id: "ses_nope" } } });
    expect(missing.error).toMatchObject({ error: { code: "session_not_found" } });
    await client.DELETE("/v1/sessions/{id}", { params: { path: { id } } });
  });

  it("Claude Code: a permission answered through onPermission, and a turn cancelled while it waits for one", async () => {
    const berth = Berth.connect({ baseUrl: ctx.berth.url, token: API_TOKEN });
    const ws = newWorkspace();
    const session = await berth.createSession({ harness: "claude", workspace: ws, permissionPolicy: "ask" });
    await session.ready();
    const asked: PermissionRequest[] = [];
    const allowed = await session.prompt(WRITE_PROMPT, { onPermission: (req) => (asked.push(req), "allow") });
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked[0]!.data).toMatchObject({ policy: "ask", toolCall: { kind: "execute" } });
    expect(allowed.events.find((e) => e.type === "permission.resolved")?.data).toMatchObject({ outcome: "selected", by: "client" });
    expect(allowed.stopReason).toBe("end_turn");
    expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe("written through the sdk");
    await session.end();

    const ws2 = newWorkspace();
    const waiting = await berth.createSession({ harness: "claude", workspace: ws2, permissionPolicy: "ask" });
    await waiting.ready();
    const cancelled = await waiting.prompt(WRITE_PROMPT, {
      onEvent: (ev) => {
        if (ev.type === "permission.requested") void waiting.cancel();
      },
    });
    expect(cancelled.stopReason).toBe("cancelled");
    expect(cancelled.turn.state).toBe("cancelled");
    expect(existsSync(join(ws2, "out.txt"))).toBe(false);
    await waiting.end();
  });

  it("startLocalServer: a berth of the test's own; stopped, its session is interrupted; started again on the same home, resume() brings it back", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-sdk-local-"));
    chmodSync(home, 0o711);
    const bin = join(REPO, "dist", "bundle", "berth.mjs");
    const env = { BERTH_HARNESS_CACHE: HARNESS_CACHE };
    const first = await startLocalServer({ bin, home, env });
    expect(await first.berth.health()).toEqual({ status: "ok" });
    expect(await first.berth.ready()).toEqual({ status: "ready" });
    const session = await first.berth.createSession({ harness: "pi" });
    await session.ready();
    expect((await session.prompt("Create hello.txt")).stopReason).toBe("end_turn");
    await first.stop(); // SIGTERM: live sessions become interrupted, resumable

    const second = await startLocalServer({ bin, home, env });
    try {
      const again = await second.berth.session(session.id);
      expect(again.info.state).toBe("interrupted");
      await expect(again.prompt("too early")).rejects.toMatchObject({ status: 409, code: "session_not_live" });
      expect((await again.resume()).state).toBe("starting");
      expect((await again.ready()).state).toBe("ready");
      const next = await again.prompt("and again");
      expect(next.stopReason).toBe("end_turn");
      expect((await again.turns()).map((t) => t.state)).toEqual(["completed", "completed"]);
      await again.end();
    } finally {
      await second.stop();
    }
    expect(existsSync(home)).toBe(true); // a home it was given is the caller's to remove
  });

  it("the README's examples: the complete ones run unchanged from the built package; every one type-checks", async () => {
    const readme = readFileSync(join(REPO, "packages", "client", "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts( snippet)?\n([\s\S]*?)```/g)].map((m) => ({ snippet: !!m[1], code: m[2]! }));
    expect(blocks.filter((b) => !b.snippet).length).toBeGreaterThanOrEqual(2);
    const dir = mkdtempSync(join(tmpdir(), "berth-sdk-readme-"));
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(REPO, "packages", "client"), join(dir, "node_modules", "berth-client"));
    if (!existsSync(join(REPO, "packages", "client", "dist", "index.js"))) throw new Error("packages/client is not built: run npm run build");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const prelude = 'import { Berth } from "berth-client";\ndeclare const berth: Berth;\n';
    blocks.forEach((b, i) => writeFileSync(join(dir, `example${i}.${b.snippet ? "ts" : "mts"}`), b.snippet ? `${prelude}${b.code}\nexport {};\n` : b.code));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"], typeRoots: [join(REPO, "node_modules", "@types")] }, include: ["*.ts", "*.mts"] }),
    );
    // Async: berth (a child of this process) must keep draining its log meanwhile.
    const run = promisify(execFile);
    const tsc = await run(join(REPO, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" }).catch((e: { stdout: string; stderr: string }) => e);
    expect(tsc.stdout + tsc.stderr, "README examples do not type-check").toBe("");
    // Run the complete ones as a user would (after type-stripping them with esbuild, as any TS runner does).
    for (const [i, b] of blocks.entries()) {
      if (b.snippet) continue;
      const { stdout: js } = await run(join(REPO, "node_modules", ".bin", "esbuild"), [join(dir, `example${i}.mts`), "--format=esm"], { encoding: "utf8" });
      writeFileSync(join(dir, `example${i}.mjs`), js);
      const { stdout: out } = await run(process.execPath, [join(dir, `example${i}.mjs`)], { encoding: "utf8", env: { PATH: process.env.PATH, BERTH_URL: ctx.berth.url, BERTH_TOKEN: API_TOKEN }, timeout: 120_000 });
      if (i === 0) expect(out).toMatch(/^tool: .+\nend_turn \d+ in \/ \d+ out\n/);
      else expect(out).toMatch(/\[turn ended: end_turn\]\n404 session_not_found\n$/);
    }
  }, 300_000);
});
