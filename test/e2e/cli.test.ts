import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chownSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { API_TOKEN, HARNESS_CACHE, REPO, startBerth } from "./helpers.js";

// The CLI as a user runs it: the built `berth` binary, no provider key, the embedded mock model.
// Asynchronous: a blocking spawnSync would stall the vitest worker's RPC on a slow machine.
async function berth(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), "berth-cli-"));
  try {
    const r = await promisify(execFile)(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), ...args], {
      env: { PATH: process.env.PATH!, BERTH_HOME: home, BERTH_HARNESS_CACHE: HARNESS_CACHE, ...env },
      encoding: "utf8",
      timeout: 120_000,
    });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    return { status: typeof e.code === "number" ? e.code : 1, stdout: String(e.stdout ?? ""), stderr: String(e.stderr ?? "") };
  }
}

describe("berth run", () => {
  it("runs Pi in T1 on the embedded mock model, says so, prints a transcript and exits 0", async () => {
    // Not under any BERTH_WORKSPACE_ROOTS: the operator named it on the command line.
    const ws = mkdtempSync(join(tmpdir(), "ws-"));
    if (process.getuid?.() === 0) chownSync(ws, 1000, 1000);
    const r = await berth(["run", "--harness", "pi", "--workspace", ws, "Create hello.txt"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/mock model/g)).toHaveLength(1);
    expect(r.stdout).toContain("bash");
    expect(r.stdout).toContain("completed");
    expect(r.stdout).toContain("Wrote hello.txt.");
    expect(r.stdout).toContain("turn ended: end_turn");
    expect(readFileSync(join(ws, "hello.txt"), "utf8")).toBe("hello from berth\n");
  });

  it("--json prints one event per line, ending with turn.ended; a scripted error step exits non-zero", async () => {
    const dir = mkdtempSync(join(tmpdir(), "script-"));
    writeFileSync(join(dir, "s.yaml"), "steps:\n  - error: { status: 400, message: 'scripted refusal to continue' }\n");
    const r = await berth(["run", "--json", "hi"], { BERTH_MOCK_SCRIPT: join(dir, "s.yaml") });
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((e) => e.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.at(-1).type).toBe("turn.ended");
    // However the harness reports it, berth puts the upstream's own error on the record and fails the run.
    expect(lines.find((e) => e.type === "session.error").data).toMatchObject({ code: "model_call_failed", status: 400, message: "scripted refusal to continue" });
    expect(r.status).toBe(1);
  });

  it("--max-tokens: the transcript shows the spent budget and the run exits 4", async () => {
    const r = await berth(["run", "--max-tokens", "1", "Create hello.txt"]);
    expect(r.stdout).toMatch(/error budget_exceeded: the session's token budget is spent/);
    expect(r.status, r.stderr).toBe(4);
  });

  it("bad input: exit code 2 and one line", async () => {
    for (const args of [
      ["run", "--workspace", "/does/not/exist", "x"],
      ["run", "--bogus"],
      ["run", "--tier", "t9", "x"],
      ["run", "--max-tokens", "-3", "x"],
      ["run", "--max-cost-usd", "1", "x"], // the mock model has no price
      ["nosuch"],
    ]) {
      const r = await berth(args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n").filter((l) => !l.includes("mock model"))).toHaveLength(1);
      expect(r.stderr).toMatch(/^berth: /m);
    }
  });
});

describe("berth sessions", () => {
  it("lists and shows sessions of a running server", async () => {
    const srv = await startBerth();
    try {
      const s = await srv.client.createSession({ harness: "pi" });
      const env = { BERTH_URL: srv.url, BERTH_TOKEN: API_TOKEN };
      const ls = await berth(["sessions", "ls"], env);
      expect(ls.status, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(new RegExp(`${s.id}\\s+(starting|ready)\\s+pi`));
      const show = await berth(["sessions", "show", s.id], env);
      expect(JSON.parse(show.stdout).id).toBe(s.id);
      const events = await berth(["sessions", "events", "--json", s.id], env);
      expect(JSON.parse(events.stdout.split("\n")[0]!)).toMatchObject({ seq: 1, type: "session.status" });
      const missing = await berth(["sessions", "show", "ses_nope"], env);
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain("session_not_found");
      await srv.client.endSession(s.id);
    } finally {
      await srv.stop();
    }
  });
});
