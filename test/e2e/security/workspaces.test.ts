import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../../src/mock/index.js";
import { API_TOKEN, collect, HARNESS_CACHE, isReady, newWorkspace, startBerth, turnEnded, workspaceRoot, type BerthProc } from "../helpers.js";

// Workspace attacks, performed for real against a real berth and a real Pi in T1, on
// throwaway directories this file creates (never the real /etc or /root): every one must be
// refused with a 4xx and a machine-readable code, and leave its target as it was.

const KEY = "sk-ant-api03-ws" + "W".repeat(40);

/** Content, owner and mode of every entry under `dir` (the directory itself included; links not followed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string) => {
    const st = lstatSync(p);
    out[p] = `${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}${st.isFile() ? ":" + readFileSync(p, "utf8") : ""}`;
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
  };
  visit(dir);
  return out;
}

/** A root-owned (berth's user's) stand-in for a system directory, e.g. a fake /etc with a passwd. */
function fakeSystemDir(parent: string, name: string): string {
  const d = mkdtempSync(join(parent, name));
  chmodSync(d, 0o755);
  writeFileSync(join(d, "passwd"), "root:x:0:0:root:/root:/bin/sh\n", { mode: 0o644 });
  mkdirSync(join(d, ".ssh"), { mode: 0o700 });
  writeFileSync(join(d, ".ssh", "authorized_keys"), "ssh-ed25519 AAAA operator\n", { mode: 0o600 });
  return d;
}

/** POST /v1/sessions, answered as it is (the client throws on a 4xx). */
async function createRaw(berth: BerthProc, body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${berth.url}/v1/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ harness: "pi", ...body }),
  });
  return { status: res.status, body: await res.json() };
}

let mock: MockProvider;
let berth: BerthProc;
let victim: string;

beforeAll(async () => {
  // The agent's one tool call plants a symlink in its HOME where berth writes Pi's settings.
  const dir = mkdtempSync(join(tmpdir(), "berth-victim-"));
  chmodSync(dir, 0o755);
  victim = join(dir, "victim.conf");
  writeFileSync(victim, "operator's file\n", { mode: 0o644 });
  const script = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "ln -sfn ${victim} $HOME/.pi/agent/settings.json && ln -sfn ${victim} $HOME/.pi/agent/models.json && echo planted" } }
  - text: "planted"
`);
  mock = await startMockProvider({ script, requireKey: KEY });
  berth = await startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url } });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

describe("caller-named workspaces", () => {
  it("anything that resolves outside BERTH_WORKSPACE_ROOTS is refused with 400 workspace_not_allowed, and left as it was", async () => {
    const root = workspaceRoot();
    const ws = newWorkspace();
    const fakeEtc = fakeSystemDir(tmpdir(), "fake-etc-");
    symlinkSync(fakeEtc, join(root, `to-etc-${basename(fakeEtc)}`));
    symlinkSync(join(root, `to-etc-${basename(fakeEtc)}`), join(root, `chain-${basename(fakeEtc)}`));
    symlinkSync(berth.home, join(root, `to-home-${basename(fakeEtc)}`));
    const before = { etc: snapshot(fakeEtc), db: lstatSync(join(berth.home, "berth.db")), home: lstatSync(berth.home) };
    const attempts = [
      fakeEtc,
      `${fakeEtc}/`,
      `${fakeEtc}/.ssh`,
      `${ws}/../../${basename(fakeEtc)}`,
      `${root}//..//${basename(fakeEtc)}/`,
      `${root}/./../${basename(fakeEtc)}/./.ssh`,
      join(root, `to-etc-${basename(fakeEtc)}`),
      join(root, `chain-${basename(fakeEtc)}`),
      join(root, `to-etc-${basename(fakeEtc)}`, ".ssh"),
      // berth's own home (API token, berth.db) and its harness cache, by traversal and by link
      `${ws}/../../${basename(berth.home)}`,
      join(root, `to-home-${basename(fakeEtc)}`),
      join(berth.home, "workspaces"),
      HARNESS_CACHE,
      join(HARNESS_CACHE, "pi"),
      // the root itself would hand over every other workspace in it
      root,
      `${ws}/..`,
      // system directories are only named, never touched
      "/etc",
      "/root",
      "/",
      "/tmp",
      `${fakeEtc}/nonexistent`,
    ];
    for (const workspace of attempts) {
      const r = await createRaw(berth, { workspace });
      expect(r.status, workspace).toBe(400);
      expect(r.body.error.code, workspace).toBe("workspace_not_allowed");
      expect(r.body.error.message, workspace).toMatch(/\S/);
    }
    expect(snapshot(fakeEtc)).toEqual(before.etc);
    const db = lstatSync(join(berth.home, "berth.db"));
    expect([db.uid, db.gid, db.mode]).toEqual([before.db.uid, before.db.gid, before.db.mode]);
    expect(lstatSync(berth.home).mode).toBe(before.home.mode);
    expect((await berth.client.request<any>("GET", "/v1/sessions")).body.sessions).toHaveLength(0);
  });

  it("a directory inside the roots that the agent cannot write is refused with 400 workspace_not_writable, never chowned", async () => {
    const root = workspaceRoot();
    // Owned by berth's user (root here), as a system directory would be.
    const target = fakeSystemDir(root, "root-owned-");
    const link = join(root, `link-${basename(target)}`);
    symlinkSync(target, link);
    const before = snapshot(target);
    for (const workspace of [target, link, `${target}/.ssh`]) {
      const r = await createRaw(berth, { workspace });
      expect(r.status, workspace).toBe(400);
      expect(r.body.error.code, workspace).toBe("workspace_not_writable");
      expect(r.body.error.message).toMatch(/chown|chmod/);
    }
    expect(snapshot(target)).toEqual(before);
  });

  it("malformed names are 400 invalid_workspace", async () => {
    for (const workspace of ["relative/ws", `${newWorkspace()}\0/x`, "/" + "a/".repeat(3000), ""]) {
      const r = await createRaw(berth, { workspace });
      expect(r.status, workspace.slice(0, 30)).toBe(400);
      expect(["invalid_workspace", "invalid_request"], workspace.slice(0, 30)).toContain(r.body.error.code);
    }
  });

  it("one live session per workspace (nor one inside another's): 409 workspace_in_use; files berth did not create keep their owner", async () => {
    const ws = newWorkspace();
    const sub = join(ws, "sub");
    mkdirSync(sub);
    // The operator's file in the workspace: berth must not take it over (the old chown -R did).
    writeFileSync(join(ws, "operator.txt"), "mine\n", { mode: 0o644 });
    chownSync(join(ws, "operator.txt"), 0, 0);
    if (process.getuid?.() === 0) chownSync(sub, 1000, 1000);
    const alias = join(workspaceRoot(), `alias-${basename(ws)}`);
    symlinkSync(ws, alias);

    const s = await berth.client.createSession({ harness: "pi", workspace: `${ws}/` });
    expect(s.workspace).toBe(ws); // canonical
    await collect(berth.client, s.id, isReady);
    for (const workspace of [ws, alias, sub, workspaceRoot() + "/" + basename(ws) + "//"]) {
      const r = await createRaw(berth, { workspace });
      expect(r.status, workspace).toBe(409);
      expect(r.body.error.code).toBe("workspace_in_use");
    }
    const st = lstatSync(join(ws, "operator.txt"));
    expect([st.uid, st.gid]).toEqual([0, 0]);
    await berth.client.endSession(s.id);
    const again = await berth.client.createSession({ harness: "pi", workspace: sub });
    await collect(berth.client, again.id, isReady);
    await berth.client.endSession(again.id);
    expect(lstatSync(join(ws, "operator.txt")).uid).toBe(0);
  });
});

describe("the session home", () => {
  it("a symlink the agent plants where berth writes the harness's settings is replaced on resume, never written through", async () => {
    const before = snapshot(victim);
    const s = await berth.client.createSession({ harness: "pi" });
    await collect(berth.client, s.id, isReady);
    const t = await berth.client.postTurn(s.id, "plant");
    const evs = await collect(berth.client, s.id, turnEnded(t.id));
    expect(JSON.stringify(evs)).toContain("planted");
    const settings = join(berth.home, "sessions", s.id, "home", ".pi/agent/settings.json");
    expect(lstatSync(settings).isSymbolicLink()).toBe(true); // the attack is in place

    // berth restarts (the session is interrupted), and the session resumes: berth writes the home files again.
    await berth.stop();
    berth = await startBerth({ home: berth.home, env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url } });
    expect((await berth.client.request("POST", `/v1/sessions/${s.id}/resume`, {})).status).toBe(202);
    await collect(berth.client, s.id, isReady);
    expect(snapshot(victim)).toEqual(before);
    expect(lstatSync(settings).isSymbolicLink()).toBe(false);
    expect(readFileSync(settings, "utf8")).toContain("{");
    await berth.client.endSession(s.id);
  });
});

describe("the operator's roots", () => {
  it("a bad BERTH_WORKSPACE_ROOTS stops the server with one line", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-badroot-"));
    const inside = join(home, "inner");
    mkdirSync(inside);
    for (const roots of ["/", "/etc", "relative/dir", join(tmpdir(), "no-such-root-dir"), home, inside, tmpdir()]) {
      const err = await startBerth({ home, env: { BERTH_WORKSPACE_ROOTS: roots } }).then(
        async (b) => {
          await b.stop();
          return "started";
        },
        (e: Error) => e.message,
      );
      expect(err, roots).toMatch(/berth exited 1/);
      expect(err, roots).toMatch(/BERTH_WORKSPACE_ROOTS entry.*(cannot be used|is not an existing directory|must be an absolute path)/);
    }
  });
});
