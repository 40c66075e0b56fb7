import { chownSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { API_TOKEN, runCli, startBerth } from "./helpers.js";
import { readTar, tarOf } from "../files/tar.js";
import { createReadStream } from "node:fs";

// The CLI as a user runs it: the built `berth` binary, no provider key, the embedded mock model.
const ESC = "\x1b[";

const berth = runCli;

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
      const show = await berth(["sessions", "show", "--json", s.id], env);
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

  it("drives a session through the verbs: create, turn (prompt from stdin), events, cancel, permit, resume, end; --json is what the API answered", async () => {
    const srv = await startBerth();
    try {
      // --url/--token flags; the environment names nothing.
      const flags = ["--url", srv.url, "--token", API_TOKEN];
      const created = await berth(["sessions", ...flags, "create", "--harness", "pi", "--wait", "--json"]);
      expect(created.status, created.stderr).toBe(0);
      const s = JSON.parse(created.stdout);
      expect(s).toMatchObject({ harness: "pi", state: "ready" });
      const env = { BERTH_URL: srv.url, BERTH_TOKEN: API_TOKEN };

      const turn = await berth(["sessions", "turn", s.id, "-"], env, "Create hello.txt\n");
      expect(turn.status, turn.stderr).toBe(0);
      expect(turn.stdout).toContain("Wrote hello.txt.");
      expect(turn.stdout).toContain("turn ended: end_turn");
      expect(turn.stdout).not.toContain(ESC); // not a terminal: no colour
      const turns = (await srv.client.request<{ turns: { state: string }[] }>("GET", `/v1/sessions/${s.id}/turns`)).body.turns;
      expect(turns.map((t) => t.state)).toEqual(["completed"]);

      const ndjson = await berth(["sessions", "turn", "--json", s.id, "once more"], env);
      const lines = ndjson.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.at(-1)).toMatchObject({ type: "turn.ended", data: { stopReason: "end_turn" } });
      expect(new Set(lines.map((e) => e.turnId).filter(Boolean)).size).toBe(1);

      const queued = await berth(["sessions", "turn", "--json", "--no-wait", "--idempotency-key", "k1", s.id, "third"], env);
      expect(JSON.parse(queued.stdout)).toMatchObject({ sessionId: s.id, idempotencyKey: "k1", idx: 2 }); // idx counts from 0

      const coloured = await berth(["sessions", "events", s.id], { ...env, FORCE_COLOR: "1" });
      expect(coloured.stdout).toContain(ESC);
      const plain = await berth(["sessions", "events", s.id], { ...env, FORCE_COLOR: "1", NO_COLOR: "1" });
      expect(plain.stdout).toContain(ESC); // FORCE_COLOR wins
      expect((await berth(["sessions", "events", s.id], { ...env, NO_COLOR: "1" })).stdout).not.toContain(ESC);

      // Each verb reaches the API: the answers are the API's own errors, exit 2 and one line.
      for (const [args, code] of [
        [["sessions", "permit", s.id, "perm_nope", "--allow"], "permission_not_found"],
        [["sessions", "resume", s.id], "not_resumable"],
        [["sessions", "show", "ses_nope"], "session_not_found"],
      ] as const) {
        const r = await berth([...args], env);
        expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain(code);
      }
      for (const args of [
        ["sessions", "permit", s.id, "perm_x", "--allow", "--deny"],
        ["sessions", "turn", s.id, "-"], // empty stdin
        ["sessions", "--url", "ftp://x", "ls"],
        ["sessions", "create"], // no --harness
        ["sessions", "create", "--harness", "pi", "--permission-policy", "maybe"],
      ]) {
        const r = await berth(args, env);
        expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }

      // Cancel: the queued third turn if it still runs, else there is nothing to cancel (409).
      const cancel = await berth(["sessions", "cancel", "--json", s.id], env);
      if (cancel.status === 0) expect(JSON.parse(cancel.stdout).turnId).toMatch(/^turn_/);
      else expect(cancel.stderr).toContain("no_running_turn");

      const ended = await berth(["sessions", "end", "--json", s.id], env);
      expect(JSON.parse(ended.stdout)).toMatchObject({ id: s.id, state: "ended" });
      const unreachable = await berth(["sessions", "ls"], { BERTH_URL: "http://127.0.0.1:9", BERTH_TOKEN: API_TOKEN });
      expect(unreachable.status).toBe(1);
      expect(unreachable.stderr).toMatch(/^berth: could not reach berth at http:\/\/127\.0\.0\.1:9/);
    } finally {
      await srv.stop();
    }
  });
});

describe("berth files", () => {
  it("seeds a session from a tar.gz, lists, reads, writes and pulls its workspace; bad input is exit 2 and one line", async () => {
    const srv = await startBerth();
    try {
      const env = { BERTH_URL: srv.url, BERTH_TOKEN: API_TOKEN };
      const dir = mkdtempSync(join(tmpdir(), "berth-cli-files-"));
      const archive = join(dir, "seed.tar.gz");
      writeFileSync(archive, await tarOf([{ name: "docs/readme.md", body: "# seeded\n" }, { name: "data.txt", body: "0123456789" }], true));
      const created = await berth(["sessions", "create", "--harness", "pi", "--archive", archive, "--wait", "--json"], env);
      expect(created.status, created.stderr).toBe(0);
      const s = JSON.parse(created.stdout);
      expect(s.state).toBe("ready");

      const ls = await berth(["files", "ls", s.id], env);
      expect(ls.status, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(/file\s+10\s+\S+\s+data\.txt/);
      expect(ls.stdout).toMatch(/directory\s+\d+\s+\S+\s+docs\//);
      expect((await berth(["files", "cat", s.id, "data.txt", "--offset", "3", "--length", "4"], env)).stdout).toBe("3456");
      const put = await berth(["files", "put", "--json", s.id, "notes/from-stdin.txt", "-"], env, "piped in\n");
      expect(JSON.parse(put.stdout)).toEqual({ path: "notes/from-stdin.txt", size: 9 });
      const out = join(dir, "pulled.tar");
      expect((await berth(["files", "pull", s.id, "-o", out], env)).status).toBe(0);
      const names = (await readTar(createReadStream(out))).map((e) => e.header.name).sort();
      expect(names).toEqual(expect.arrayContaining(["./data.txt", "./docs/readme.md", "./notes/from-stdin.txt"]));

      for (const [args, code] of [
        [["files", "cat", s.id, "missing.txt"], "path_not_found"],
        [["files", "cat", s.id, "../../etc/passwd"], "invalid_path"],
        [["files", "push", s.id, archive, "--path", ".git/hooks"], "protected_path"],
        [["files", "ls", "ses_nope"], "session_not_found"],
      ] as const) {
        const r = await berth([...args], env);
        expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain(code);
      }
      for (const args of [["files", "put", s.id, "x.txt", join(dir, "no-such-file")], ["files", "cat", s.id, "data.txt", "--offset", "-1"], ["sessions", "create", "--harness", "pi", "--git", "https://x/y.git", "--archive", archive]]) {
        const r = await berth(args, env);
        expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }
      await berth(["sessions", "end", s.id], env);
    } finally {
      await srv.stop();
    }
  });
});
