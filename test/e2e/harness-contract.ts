import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import type { SessionInfo } from "./client.js";
import type { BerthEvent } from "../../src/events/types.js";
import { startMockProvider, validateMockScript, type MockProvider, type MockScript, type MockToolCall } from "../../src/mock/index.js";
import { assertContiguous, collect, isReady, newWorkspace, processEnv, sessionPids, startBerth, turnEnded, walk, type BerthProc } from "./helpers.js";

// The contract every harness keeps when berth runs it in T1 (bubblewrap) through the API,
// against berth's scripted mock model that only accepts berth's real upstream key (the
// canary): the harness sees only its gateway token, a scripted tool loop writes a file with
// ordered gap-free events, the canary is nowhere the harness (or berth's log and store) can
// show it, and ending the session leaves nothing behind. Each harness's test calls these
// in order and adds what is its own (its mock API, its quirks, its extra assertions).

/** An event's data, loosely typed for assertions. */
export const data = (e: { data: unknown } | undefined) => (e?.data ?? {}) as Record<string, any>;
export const ofType = (type: string) => (e: BerthEvent) => e.type === type;
/** All assistant text in `events`, joined. */
export const messageText = (events: BerthEvent[]) =>
  events
    .filter(ofType("message.delta"))
    .map((e) => data(e).text)
    .join("");

/** The prompt of the scripted tool-loop turn, and the text of the script's last step (after the tool). */
export const WRITE_PROMPT = "write out.txt";
export const FINAL_TEXT = "The file out.txt is written.";

/**
 * The tool-loop script: the model calls `tool` (the harness's shell tool, writing out.txt)
 * with some text, then, given the tool's result, ends with FINAL_TEXT.
 */
export function toolLoopScript(tool: MockToolCall): MockScript {
  return validateMockScript({ steps: [{ text: "I'll write the file.", tool }, { text: FINAL_TEXT }] });
}

export interface MockedBerth {
  readonly mock: MockProvider;
  readonly berth: BerthProc;
}

/**
 * For the test file: a mock provider running `script` that accepts only `canary`, and a
 * berth whose environment (`env(mockUrl)`) points at it; both stopped after the file.
 */
export function useMockedBerth(opts: { script: MockScript; canary: string; env: (mockUrl: string) => Record<string, string> }): MockedBerth {
  let mock: MockProvider | undefined;
  let berth: BerthProc | undefined;
  beforeAll(async () => {
    mock = await startMockProvider({ script: opts.script, requireKey: opts.canary });
    berth = await startBerth({ env: opts.env(mock.url) });
  });
  afterAll(async () => {
    await berth?.stop();
    await mock?.close();
  });
  return {
    get mock() {
      if (!mock) throw new Error("mock provider not started (used outside a test?)");
      return mock;
    },
    get berth() {
      if (!berth) throw new Error("berth not started (used outside a test?)");
      return berth;
    },
  };
}

/** A T1 session of `harness` on a fresh workspace, once it is ready. */
export async function startReadySession(berth: BerthProc, harness: string, extra: Record<string, unknown> = {}): Promise<{ s: SessionInfo; ws: string }> {
  const ws = newWorkspace();
  const s = await berth.client.createSession({ harness, workspace: ws, ...extra });
  expect(s.tier).toBe("process");
  await collect(berth.client, s.id, isReady);
  return { s, ws };
}

/**
 * While the harness runs: every process of the session has a gateway token and never the
 * real key. `each` adds the harness's own checks on each environment. Returns the token.
 */
export function expectGatewayTokenOnly(
  sessionId: string,
  canary: string,
  each: (env: Record<string, string>, token: string) => void = () => {},
  opts: { minProcesses?: number } = {},
): string {
  const pids = sessionPids(sessionId);
  expect(pids.length).toBeGreaterThanOrEqual(opts.minProcesses ?? 1);
  let token = "";
  for (const pid of pids) {
    const env = processEnv(pid);
    expect(env.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
    token = env.BERTH_GATEWAY_TOKEN!;
    expect(JSON.stringify(env)).not.toContain(canary);
    each(env, token);
  }
  return token;
}

/** Indices into a session's events of the tool loop's landmarks. */
export interface ToolLoop {
  /** Every event of the session so far, gap-free from seq 1. */
  all: BerthEvent[];
  /** The first tool.call. */
  call: number;
  /** The first tool.update that completed. */
  done: number;
  /** The last message.delta. */
  finalText: number;
  /** The last turn.ended. */
  ended: number;
}

/**
 * Posts the scripted turn and checks the tool loop: the file holds `written`, events are
 * gap-free and in order (turn.started < tool.call < completed < final text < turn.ended),
 * the text after the tool is the script's last step, the turn ended with end_turn after at
 * least two model calls.
 */
export async function expectToolLoopTurn(berth: BerthProc, s: { id: string }, ws: string, written: string): Promise<ToolLoop> {
  const turn = await berth.client.postTurn(s.id, WRITE_PROMPT);
  const events = await collect(berth.client, s.id, turnEnded(turn.id));
  expect(readFileSync(join(ws, "out.txt"), "utf8")).toBe(written);

  const all = (await berth.client.eventsPage(s.id)).events;
  assertContiguous(all);
  const types = all.map((e) => e.type);
  const call = all.findIndex(ofType("tool.call"));
  const done = all.findIndex((e) => e.type === "tool.update" && data(e).status === "completed");
  const finalText = all.findLastIndex(ofType("message.delta"));
  expect(messageText(all.slice(done))).toBe(FINAL_TEXT);
  const ended = types.lastIndexOf("turn.ended");
  expect(call).toBeGreaterThan(types.indexOf("turn.started"));
  expect(done).toBeGreaterThan(call);
  expect(finalText).toBeGreaterThan(done);
  expect(ended).toBeGreaterThan(finalText);
  expect(data(all[ended])).toMatchObject({ stopReason: "end_turn" });
  expect(all.filter(ofType("model.call")).length).toBeGreaterThanOrEqual(2);
  expect(events.at(-1)!.type).toBe("turn.ended");
  return { all, call, done, finalText, ended };
}

/** The harness tree (by now including tool processes' parents) still has no real key. */
export function expectNoCanaryInSessionProcesses(sessionId: string, canary: string): void {
  for (const pid of sessionPids(sessionId)) expect(readFileSync(`/proc/${pid}/environ`, "latin1")).not.toContain(canary);
}

/**
 * No file the harness can see (its HOME, the workspace) holds the real key, nor the
 * gateway token when `token` is given; berth's event store, log and database don't hold
 * the key either. Returns the session's HOME on the host and the files in it.
 */
export function expectCanaryNowhere(berth: BerthProc, o: { sessionId: string; ws: string; all: BerthEvent[]; canary: string; token?: string }): { home: string; files: string[] } {
  const home = join(berth.home, "sessions", o.sessionId, "home");
  const files = walk(home);
  for (const f of [...files, ...walk(o.ws)]) {
    const text = readFileSync(f, "latin1");
    expect(text, f).not.toContain(o.canary);
    if (o.token) expect(text, f).not.toContain(o.token);
  }
  expect(JSON.stringify(o.all)).not.toContain(o.canary);
  expect(berth.log()).not.toContain(o.canary);
  expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(o.canary);
  return { home, files };
}

/** What the harness said over ACP (initialize) is reported by GET /v1/harnesses. */
export async function expectHarnessReported(berth: BerthProc, id: string, capabilities: Record<string, unknown>): Promise<void> {
  const hs = (await berth.client.request<any>("GET", "/v1/harnesses")).body.harnesses;
  expect(hs.find((h: any) => h.id === id)).toMatchObject({ installed: true, capabilities });
}

/** Ending the session stops every process of it, removes its HOME and leaves it "ended". */
export async function expectEndedAndGone(berth: BerthProc, sessionId: string): Promise<void> {
  await berth.client.endSession(sessionId);
  expect(sessionPids(sessionId)).toEqual([]);
  expect(existsSync(join(berth.home, "sessions", sessionId, "home"))).toBe(false);
  expect((await berth.client.getSession(sessionId)).state).toBe("ended");
}

/**
 * A berth with only an Anthropic key refuses a `harness` session whose model needs another
 * provider: `model` (which needs `secret`) is refused naming the secret, never a fallback to
 * Anthropic; the default (Claude) model is refused as an API mismatch. No session is left.
 */
export async function expectRefusedWithoutProvider(o: { harness: string; model: string; secret: string; canary: string; anthropicUrl: string }): Promise<void> {
  const anthropicOnly = await startBerth({ env: { ANTHROPIC_API_KEY: o.canary, ANTHROPIC_BASE_URL: o.anthropicUrl, BERTH_MODEL: "claude-mock" } });
  try {
    const err = await anthropicOnly.client.createSession({ harness: o.harness, model: o.model }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: "missing_secret" });
    expect((err as Error).message).toContain(o.secret);
    const mismatch = await anthropicOnly.client.createSession({ harness: o.harness }).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ status: 400, code: "api_mismatch" });
    expect(await anthropicOnly.client.listSessions()).toEqual([]);
  } finally {
    await anthropicOnly.stop();
  }
}

/**
 * Resume after a crash, mid-turn: a session of `harness` runs one turn that asks it to
 * remember a marker (the mock's script is `tool`, the harness's shell tool, then the text
 * "remembered" after a pause), then a second turn during which berth is SIGKILLed, its
 * sandbox with it (while the model is answering). A new berth on the
 * same home finds the session interrupted and resumes it: ready with resumed: true and the
 * context "restored" (the harness's session/load) or "rebuilt" (berth primed a new harness
 * session from its log). Either way, the next turn's model request carries the first turn's
 * conversation, and it ends with end_turn. `check` then inspects that turn.
 */
export async function expectResumeAfterCrash(
  o: {
    harness: string;
    tool: MockToolCall;
    canary: string;
    env: (mockUrl: string) => Record<string, string>;
  },
  check: (after: { convo: MockProvider; evs: BerthEvent[]; context: "restored" | "rebuilt" }) => void | Promise<void>,
): Promise<void> {
  const mark = `PAPAYA-${randomBytes(4).toString("hex")}`;
  const script = validateMockScript({ steps: [{ tool: o.tool }, { text: "remembered", delay_ms: 1500 }] });
  const convo = await startMockProvider({ script, requireKey: o.canary });
  const home = mkdtempSync(join(tmpdir(), `berth-${o.harness}-resume-`));
  const env = o.env(convo.url);
  let first: BerthProc | undefined;
  let again: BerthProc | undefined;
  try {
    first = await startBerth({ home, env });
    const s = await first.client.createSession({ harness: o.harness });
    await collect(first.client, s.id, isReady);
    const t1 = await first.client.postTurn(s.id, `Remember the word ${mark}.`);
    await collect(first.client, s.id, turnEnded(t1.id));
    // Killed mid-turn: the second turn's model request is in flight (the mock pauses 1.5 s).
    const t2 = await first.client.postTurn(s.id, "second");
    await collect(first.client, s.id, (e) => e.turnId === t2.id && e.type === "turn.started");
    await new Promise((r) => setTimeout(r, 500));
    await first.stop("SIGKILL");

    again = await startBerth({ home, env });
    expect((await again.client.getSession(s.id)).state).toBe("interrupted");
    const lastSeq = (await again.client.getSession(s.id)).lastSeq;
    expect((await again.client.request("POST", `/v1/sessions/${s.id}/resume`, {})).status).toBe(202);
    const ready = await collect(again.client, s.id, isReady, { after: lastSeq });
    const data = ready.at(-1)!.data as { resumed?: boolean; context?: "restored" | "rebuilt" };
    expect(data.resumed).toBe(true);
    expect(["restored", "rebuilt"]).toContain(data.context);
    convo.requests.length = 0;
    const t3 = await again.client.postTurn(s.id, "third");
    const evs = await collect(again.client, s.id, turnEnded(t3.id), { after: lastSeq });
    expect(evs.at(-1)!.data).toMatchObject({ stopReason: "end_turn" });
    // Restored or rebuilt, the model is shown the first turn again.
    expect(convo.requests.some((r) => r.body?.includes(mark))).toBe(true);
    process.stderr.write(`[resume] ${o.harness}: context ${data.context}\n`);
    await check({ convo, evs, context: data.context! });
  } finally {
    await first?.stop();
    await again?.stop();
    await convo.close();
  }
}

/**
 * Agent Skills: a session of `harness` with an uploaded skill runs one turn; the model's
 * requests carry the skill's description, so the harness found it where berth mounted it.
 */
export async function expectSkillSeen(berth: BerthProc, mock: MockProvider, harness: string): Promise<void> {
  const marker = `SKILL-MARK-${randomBytes(4).toString("hex")}`;
  const skill = { name: "berth-demo", files: { "SKILL.md": `---\nname: berth-demo\ndescription: Demonstrates berth skills (${marker}).\n---\n\nSay hello.\n` } };
  const s = await berth.client.createSession({ harness, skills: [skill] });
  await collect(berth.client, s.id, isReady);
  mock.requests.length = 0;
  const t = await berth.client.postTurn(s.id, "hello");
  await collect(berth.client, s.id, turnEnded(t.id));
  expect(mock.requests.some((r) => r.body?.includes(marker)), `${harness}: no model request mentions the skill`).toBe(true);
  await berth.client.endSession(s.id);
}
