import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { fakeGitHub, type FakeGitHub } from "../secrets/fake-github.js";
import { startGitServer, type GitServer } from "./git-server.js";
import { collect, isReady, newWorkspace, processEnv, sessionPids, startBerth, turnEnded, walk, type BerthProc } from "./helpers.js";

// A real Pi in a real T1 sandbox clones, with plain `git clone`, from a git server on this
// machine that requires a token. The token reaches git only through git-credential-berth,
// which asks berth's gateway with the session's gateway token; berth answers from its git
// credentials file, and only for a session whose create request allowed the host.
//
// The sandbox has its own network namespace: its 127.0.0.1 is the sandbox's own loopback
// (and is in NO_PROXY), so the server listens on 127.0.0.2, which git reaches through the
// session's egress proxy (network.allow + allowPrivateAddresses).

const HOST = "127.0.0.2";
/** A second git server whose tokens come from a GitHub App (a fake GitHub API on the host). */
const APP_HOST = "127.0.0.3";
// Built at run time: no credential-shaped literal in the repository.
const TOKEN = `gitsrv-${randomBytes(20).toString("hex")}`;
const CANARY = "sk-ant-api03-CANARY" + "G".repeat(40);

const git = (args: string[], cwd?: string) =>
  execFileSync("git", ["-c", "user.name=berth-test", "-c", "user.email=test@berth.invalid", "-c", "safe.directory=*", ...args], {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH!, HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: "1" },
  }).trim();

let server: GitServer;
let appServer: GitServer;
let github: FakeGitHub;
let mock: MockProvider;
let berth: BerthProc;
let commit: string;
let url: string;

beforeAll(async () => {
  // A bare repository with one commit.
  const root = mkdtempSync(join(tmpdir(), "git-root-"));
  const src = mkdtempSync(join(tmpdir(), "git-src-"));
  git(["init", "-q", "-b", "main", src]);
  writeFileSync(join(src, "README.md"), "hello from the token-protected server\n");
  git(["add", "README.md"], src);
  git(["commit", "-q", "-m", "first"], src);
  commit = git(["rev-parse", "HEAD"], src);
  git(["clone", "-q", "--bare", src, join(root, "repo.git")]);

  server = await startGitServer(root, HOST, (p) => p === TOKEN);
  url = `http://${HOST}:${server.port}/repo.git`;
  // Installation tokens live 62 s, and berth refreshes them 60 s before expiry: one is
  // fresh for about two seconds.
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  github = await fakeGitHub(app.publicKey, Date.now, 62_000);
  appServer = await startGitServer(root, APP_HOST, (p) => p !== undefined && github.issued.includes(p));
  // Each test writes what the agent runs into its workspace as clone.sh.
  const script = parseMockScript(`
steps:
  - text: "Cloning."
    tool: { name: bash, input: { command: "sh clone.sh" } }
  - text: "Done."
`);
  mock = await startMockProvider({ script, requireKey: CANARY });
  const credFile = join(mkdtempSync(join(tmpdir(), "berth-gitcred-")), "git-credentials.yaml");
  const keyFile = join(mkdtempSync(join(tmpdir(), "berth-gitapp-")), "app.pem");
  writeFileSync(keyFile, app.privateKey.export({ type: "pkcs1", format: "pem" }) as string, { mode: 0o600 });
  writeFileSync(
    credFile,
    `credentials:
  - host: ${HOST}:${server.port}
    protocol: http
    token: { secret: GIT_TEST_TOKEN }
  - host: ${APP_HOST}:${appServer.port}
    protocol: http
    githubApp: { appId: 4242, installationId: 77, apiUrl: "${github.url}", privateKey: { file: ${keyFile} }, refreshMarginSeconds: 60 }
`,
  );
  berth = await startBerth({
    env: {
      ANTHROPIC_API_KEY: CANARY,
      ANTHROPIC_BASE_URL: mock.url,
      BERTH_MODEL: "claude-mock",
      BERTH_GIT_CREDENTIALS: credFile,
      GIT_TEST_TOKEN: TOKEN,
    },
  });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
  await server?.close();
  await appServer?.close();
  await github?.close();
});

describe("git credentials in a T1 sandbox", () => {
  const network = () => ({ allow: [`${HOST}:${server.port}`, `${APP_HOST}:${appServer.port}`], allowPrivateAddresses: true });
  const cloneScript = (ws: string, lines: string[]) => writeFileSync(join(ws, "clone.sh"), ["set -e", ...lines, ""].join("\n"));

  it("clones through git-credential-berth for an allowed host, with the token in no env, event or log", async () => {
    const ws = newWorkspace("ws-git-");
    cloneScript(ws, [`git clone ${url} repo`, "git -C repo rev-parse HEAD"]);
    const s = await berth.client.createSession({ harness: "pi", workspace: ws, network: network(), git: { hosts: [`${HOST}:${server.port}`] } });
    expect(s.tier).toBe("process");
    await collect(berth.client, s.id, isReady);

    // The harness's environment has the gateway token and URL, and no git token.
    const pids = sessionPids(s.id);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      const env = processEnv(pid);
      expect(env.BERTH_GATEWAY_TOKEN).toMatch(/^bgt_/);
      expect(env.BERTH_GATEWAY_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(JSON.stringify(env)).not.toContain(TOKEN);
    }

    const before = server.seen.length;
    const turn = await berth.client.postTurn(s.id, "clone the repository");
    await collect(berth.client, s.id, turnEnded(turn.id));

    expect(readFileSync(join(ws, "repo", "README.md"), "utf8")).toBe("hello from the token-protected server\n");
    expect(git(["-C", join(ws, "repo"), "rev-parse", "HEAD"])).toBe(commit);
    const mine = server.seen.slice(before);
    expect(mine.some((r) => !r.hadAuth)).toBe(true); // git asked without, got 401, then asked the helper
    expect(mine.some((r) => r.valid)).toBe(true);

    const events = (await berth.client.eventsPage(s.id)).events;
    const out = JSON.stringify(events);
    expect(out).toContain(commit); // the tool's output reached the log
    expect(out).not.toContain(TOKEN);
    expect(berth.log()).toMatch(/git credential issued/);
    expect(berth.log()).not.toContain(TOKEN);
    expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(TOKEN);
    const home = join(berth.home, "sessions", s.id, "home");
    for (const f of [...walk(home), ...walk(ws)]) expect(readFileSync(f, "latin1"), f).not.toContain(TOKEN);
    await berth.client.endSession(s.id);
  });

  it("a GitHub App installation token near its expiry is replaced before git gets it", async () => {
    const ws = newWorkspace("ws-git-");
    const appUrl = `http://${APP_HOST}:${appServer.port}/repo.git`;
    // Two clones, three seconds apart: the first token is inside the refresh margin by then.
    cloneScript(ws, [`git clone ${appUrl} one`, "sleep 3", `git clone ${appUrl} two`]);
    const s = await berth.client.createSession({ harness: "pi", workspace: ws, network: network(), git: { hosts: [`${APP_HOST}:${appServer.port}`] } });
    await collect(berth.client, s.id, isReady);
    const turn = await berth.client.postTurn(s.id, "clone it twice");
    await collect(berth.client, s.id, turnEnded(turn.id));

    for (const d of ["one", "two"]) expect(git(["-C", join(ws, d), "rev-parse", "HEAD"])).toBe(commit);
    // Two trades, each with a JWT the App's public key verifies.
    expect(github.calls).toEqual([0, 1].map(() => expect.objectContaining({ path: "/app/installations/77/access_tokens", signatureOk: true })));
    const used = [...new Set(appServer.seen.filter((r) => r.valid).map((r) => r.password))];
    expect(used).toEqual(github.issued); // the first clone used the first token, the second the refreshed one
    const out = JSON.stringify((await berth.client.eventsPage(s.id)).events) + berth.log();
    for (const t of github.issued) expect(out).not.toContain(t);
    await berth.client.endSession(s.id);
  });

  it("gives nothing to a session that did not allow the host", async () => {
    const ws = newWorkspace("ws-git-");
    cloneScript(ws, [`git clone ${url} repo`, "git -C repo rev-parse HEAD"]);
    // The network lets it reach the server; only the credential is missing.
    const s = await berth.client.createSession({ harness: "pi", workspace: ws, network: network() });
    await collect(berth.client, s.id, isReady);
    const before = server.seen.length;
    const turn = await berth.client.postTurn(s.id, "clone the repository");
    await collect(berth.client, s.id, turnEnded(turn.id));

    expect(existsSync(join(ws, "repo", "README.md"))).toBe(false);
    const mine = server.seen.slice(before);
    expect(mine.length).toBeGreaterThan(0); // it did reach the server
    expect(mine.some((r) => r.valid)).toBe(false);
    const events = (await berth.client.eventsPage(s.id)).events;
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    expect(berth.log()).toMatch(new RegExp(`"sessionId":"${s.id}".*git credential refused|git credential refused.*"sessionId":"${s.id}"`));
    await berth.client.endSession(s.id);
  });
});

describe("a workspace seeded from git at creation (workspace.git)", () => {
  const network = () => ({ allow: [`${HOST}:${server.port}`], allowPrivateAddresses: true });

  it("is cloned in the session's own sandbox (T1 and T2) before the harness starts, through git-credential-berth, at a branch or a commit", async () => {
    for (const [tier, ref] of [["process", "main"], ["process", commit], ["container", "main"]] as const) {
      const s = await berth.client.createSession({ harness: "pi", tier, workspace: { git: { url, ref, depth: 1 } }, network: network(), git: { hosts: [`${HOST}:${server.port}`] } });
      const events = await collect(berth.client, s.id, isReady);
      expect(JSON.stringify(events)).toMatch(/cloning http:\/\/127\.0\.0\.2:\d+\/repo\.git/);
      // A fresh workspace of berth's, holding the repository at the ref.
      expect(s.workspace).toBe(join(berth.home, "workspaces", s.id));
      expect(readFileSync(join(s.workspace, "README.md"), "utf8")).toBe("hello from the token-protected server\n");
      expect(git(["-C", s.workspace, "rev-parse", "HEAD"])).toBe(commit);
      expect(JSON.stringify((await berth.client.eventsPage(s.id)).events)).not.toContain(TOKEN);
      await berth.client.endSession(s.id);
    }
    expect(berth.log()).not.toContain(TOKEN);
    expect(readFileSync(join(berth.home, "berth.db"), "latin1")).not.toContain(TOKEN);
  });

  it("fails the session, saying why, when the host gets no credential; refuses a token in the URL or a host the network refuses", async () => {
    const s = await berth.client.createSession({ harness: "pi", workspace: { git: { url } }, network: network() });
    const events = await collect(berth.client, s.id, (e) => e.type === "session.status" && (e.data as { state?: string }).state === "failed");
    const error = events.find((e) => e.type === "session.error");
    expect(error?.data).toMatchObject({ code: "workspace_clone_failed" });
    expect(JSON.stringify(error?.data)).toMatch(/git clone of .* failed/);
    const bad = await berth.client.createSession({ harness: "pi", workspace: { git: { url: url.replace("http://", `http://x-access-token:${TOKEN}@`) } }, network: network() }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, code: "invalid_git_source" });
    expect(String((bad as Error).message)).not.toContain(TOKEN);
    await expect(berth.client.createSession({ harness: "pi", workspace: { git: { url } } })).rejects.toMatchObject({ status: 400, code: "git_host_not_allowed" });
  });
});
