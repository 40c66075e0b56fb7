import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseMockScript, startMockProvider, type MockProvider } from "../../../src/mock/index.js";
import type { SessionInfo } from "../client.js";
import { collect, isFailed, isReady, newWorkspace, startBerth, turnEnded, type BerthProc } from "../helpers.js";

// A real Pi in a real sandbox whose every turn runs the workspace's run.sh with its bash tool
// (the mock model always asks for it), output to result.txt: each test writes its attack
// there and reads what happened.

const CANARY = "sk-ant-api03-SECURITY" + "S".repeat(40);
const script = parseMockScript(`
steps:
  - text: "Running."
    tool: { name: bash, input: { command: "sh run.sh > result.txt 2>&1; echo exit=$? >> result.txt" } }
  - text: "Done."
`);

export interface ScriptedBerth {
  berth: BerthProc;
  mock: MockProvider;
  stop(): Promise<void>;
}

/** berth (with `env`, on `home` if given) and the mock model it talks to; Docker/Podman settings pass through. */
export async function startScriptedBerth(env: Record<string, string> = {}, home?: string): Promise<ScriptedBerth> {
  const mock = await startMockProvider({ script, requireKey: CANARY });
  const pass: Record<string, string> = {};
  for (const k of ["BERTH_DOCKER_HOST", "DOCKER_HOST", "BERTH_IMAGE"] as const) if (process.env[k]) pass[k] = process.env[k]!;
  const berth = await startBerth({ ...(home ? { home } : {}), env: { ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: mock.url, BERTH_MODEL: "claude-mock", ...pass, ...env } });
  return {
    berth,
    mock,
    stop: async () => {
      await berth.stop();
      await mock.close();
    },
  };
}

/** A ready Pi session on a fresh workspace (throws with the failure when it does not start). */
export async function readySession(berth: BerthProc, extra: Record<string, unknown> = {}): Promise<{ s: SessionInfo; ws: string }> {
  const ws = newWorkspace("ws-sec-");
  const s = await berth.client.createSession({ harness: "pi", workspace: ws, ...extra });
  const evs = await collect(berth.client, s.id, (e) => isReady(e) || isFailed(e), { timeoutMs: 180_000 });
  if (isFailed(evs.at(-1)!)) throw new Error(`session did not start: ${JSON.stringify(evs.at(-1)!.data)}`);
  return { s, ws };
}

/** Runs `shell` in the session's sandbox (one turn) and returns what it printed, ending in exit=N. */
export async function runTurn(berth: BerthProc, s: { id: string }, ws: string, shell: string): Promise<string> {
  writeFileSync(join(ws, "run.sh"), shell);
  const turn = await berth.client.postTurn(s.id, "run it");
  await collect(berth.client, s.id, turnEnded(turn.id), { timeoutMs: 180_000 });
  return readFileSync(join(ws, "result.txt"), "utf8");
}

/** Key=value lines of a result. */
export function lines(out: string): Record<string, string> {
  return Object.fromEntries(out.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}
