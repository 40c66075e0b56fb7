import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BerthClient } from "./client.js";
import type { BerthEvent } from "../../src/events/types.js";

export const REPO = resolve(import.meta.dirname, "../..");
// Outside the checkout: the sandboxed agent (uid 1000) must be able to walk to it, and a
// CI clone may sit under a directory closed to other users.
export const HARNESS_CACHE = process.env.BERTH_TEST_HARNESS_CACHE ?? join(tmpdir(), "berth-test-harnesses");
export const API_TOKEN = "brt_test_" + "x".repeat(32);

let root: string | undefined;
/**
 * This test file's BERTH_WORKSPACE_ROOTS: every server startBerth() starts accepts
 * workspaces inside it (one per file, so a restarted server still accepts the same ones).
 */
export function workspaceRoot(): string {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), "berth-roots-"));
    // The agent (uid 1000) walks through it to its workspace; it must not write here.
    chmodSync(root, 0o755);
  }
  return root;
}

/** A fresh workspace inside the test root, handed to the agent as an operator would (berth chowns nothing it did not create). */
export function newWorkspace(prefix = "ws-"): string {
  const ws = mkdtempSync(join(workspaceRoot(), prefix));
  chmodSync(ws, 0o755);
  if (process.getuid?.() === 0) chownSync(ws, 1000, 1000);
  return ws;
}

export interface BerthProc {
  url: string;
  home: string;
  child: ChildProcess;
  client: BerthClient;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the built `berth serve` as its own process (so tests can SIGKILL it). */
/** `env` entries set to undefined are removed from berth's environment (e.g. BERTH_TOKEN, to use the token file). */
export async function startBerth(opts: { home?: string; env?: Record<string, string | undefined> } = {}): Promise<BerthProc> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), "berth-e2e-"));
  let log = "";
  const child = spawn(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "serve", "--port", "0"], {
    env: {
      PATH: process.env.PATH!,
      BERTH_HOME: home,
      BERTH_HARNESS_CACHE: HARNESS_CACHE,
      BERTH_TOKEN: API_TOKEN,
      BERTH_LOG_LEVEL: "debug",
      BERTH_WORKSPACE_ROOTS: workspaceRoot(),
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (log += d));
  const url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`berth did not start:\n${log}`)), 20_000);
    child.stderr!.on("data", (d) => {
      log += d;
      const m = /berth listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(t);
        res(m[1]!);
      }
    });
    child.once("exit", (code) => rej(new Error(`berth exited ${code}:\n${log}`)));
  });
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await done;
  };
  return { url, home, child, client: new BerthClient(url, API_TOKEN), log: () => log, stop };
}

/** Collects events until `until` matches (inclusive) or the timeout passes. */
export async function collect(
  client: BerthClient,
  sessionId: string,
  until: (ev: BerthEvent) => boolean,
  opts: { after?: number; timeoutMs?: number } = {},
): Promise<BerthEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs ?? 120_000);
  const out: BerthEvent[] = [];
  try {
    for await (const ev of client.events(sessionId, { after: opts.after, signal: abort.signal })) {
      out.push(ev);
      if (until(ev)) return out;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`timed out waiting; saw:\n${out.map((e) => `${e.seq} ${e.type} ${JSON.stringify(e.data).slice(0, 200)}`).join("\n")}`);
}

export const isReady = (ev: BerthEvent) => ev.type === "session.status" && (ev.data as any).state === "ready";
export const isFailed = (ev: BerthEvent) => ev.type === "session.status" && (ev.data as any).state === "failed";
export const turnEnded = (turnId?: string) => (ev: BerthEvent) => ev.type === "turn.ended" && (!turnId || ev.turnId === turnId);

/** pids of live processes whose environment carries BERTH_SESSION_ID=<id> (the harness tree). */
export function sessionPids(sessionId: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const env = readFileSync(`/proc/${p}/environ`, "latin1");
      if (env.split("\0").includes(`BERTH_SESSION_ID=${sessionId}`)) pids.push(Number(p));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

export function processEnv(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Every file under dir, recursively (no symlinks followed). */
export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export function assertContiguous(events: BerthEvent[], from = 1): void {
  events.forEach((e, i) => {
    if (e.seq !== from + i) throw new Error(`seq gap: expected ${from + i}, got ${e.seq} (${e.type})`);
  });
}

/** An SDK session's events from the start until it is ready (or failed): the last one says which. */
export async function untilReady(session: { events(): AsyncIterable<BerthEvent> }): Promise<BerthEvent[]> {
  const events: BerthEvent[] = [];
  for await (const e of session.events()) {
    events.push(e);
    const state = e.type === "session.status" ? (e.data as { state?: string }).state : undefined;
    if (state === "ready" || state === "failed") break;
  }
  return events;
}

/**
 * Runs the built `berth` CLI with a throwaway home. Asynchronous: a blocking spawnSync would
 * stall the vitest worker's RPC on a slow machine.
 */
export async function runCli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), "berth-cli-"));
  const child = spawn(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), ...args], {
    env: { PATH: process.env.PATH!, BERTH_HOME: home, BERTH_HARNESS_CACHE: HARNESS_CACHE, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const status = await new Promise<number>((r) => child.once("close", (code) => r(code ?? 1)));
  clearTimeout(timer);
  return { status, stdout, stderr };
}
