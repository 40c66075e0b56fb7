import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelGateway } from "../../src/gateway/gateway.js";
import { GIT_CREDENTIAL_HELPER_JS, gitCredentialSandboxFiles } from "../../src/secrets/git-credential-helper.js";
import { loadGitCredentials, normalizeGitHost, parseGitCredentials, parseGitHosts } from "../../src/secrets/git-credentials-file.js";
import { GitCredentialService, parseCommandOutput, type GitCredentialDecision } from "../../src/secrets/git-credentials.js";
import { appJwt, GitHubAppTokens } from "../../src/secrets/github-app.js";
import { REDACTED, Redactor } from "../../src/secrets/redact.js";
import { fakeGitHub, type FakeGitHub } from "./fake-github.js";

// Credential values are made at run time: nothing credential-shaped lives in the repo.
const canary = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "berth-gitcred-"));
let n = 0;
const file = (text: string) => {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, text);
  return p;
};
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PEM = privateKey.export({ type: "pkcs1", format: "pem" }) as string;

/** Runs a program without blocking the event loop (the gateway under test lives in this process). */
function run(cmd: string, args: string[], input: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    c.once("error", reject);
    c.once("close", (status) => resolve({ status, stdout, stderr }));
    c.stdin.end(input);
  });
}

function service(yaml: string, env: NodeJS.ProcessEnv, hosts: Record<string, string[]>, extra: { now?: () => number } = {}) {
  const redactor = new Redactor();
  const decisions: GitCredentialDecision[] = [];
  const config = parseGitCredentials(yaml, "/etc/berth/git-credentials.yaml", { env, now: extra.now });
  const svc = new GitCredentialService({ config, env, redactor, allowedHosts: async (s) => hosts[s], onDecision: (d) => decisions.push(d) });
  return { svc, redactor, decisions };
}

describe("git credentials file", () => {
  const err = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      parseGitCredentials(yaml, "/etc/x/git.yaml", { env });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("expected an error");
  };

  it("names the file and the field for every kind of mistake", () => {
    expect(err("credentials: [\n  - host: github.com\n  token: {")).toMatch(/^\/etc\/x\/git\.yaml: line \d+, column \d+: invalid YAML/);
    expect(err("credentials:\n  - host: github.com\n    token: literal-value\n")).toMatch(
      /^\/etc\/x\/git\.yaml: credentials\[0\]\.token: must be \{ secret: NAME \}.*never written in this file/,
    );
    expect(err("credentials:\n  - host: github.com\n")).toContain("credentials[0]: give exactly one source: token, command or githubApp");
    expect(err("credentials:\n  - host: github.com\n    token: { secret: A }\n    command: [x]\n", { A: "a-long-value" })).toContain("exactly one source");
    expect(err("credentials:\n  - host: https://github.com\n    token: { secret: A }\n")).toContain('credentials[0].host: must be a host such as "github.com"');
    expect(err("credentials:\n  - host: github.com\n    tokn: { secret: A }\n")).toMatch(/credentials\[0\]/);
    expect(err("credentials:\n  - host: github.com\n    token: { secret: GIT_TEST_MISSING }\n")).toContain(
      "credentials[0].token: secret GIT_TEST_MISSING is not set: set GIT_TEST_MISSING in berth's environment, or GIT_TEST_MISSING_FILE",
    );
    expect(err("credentials:\n  - host: github.com\n    token: { secret: T }\n", { T_FILE: "/nonexistent/t" })).toContain(
      "credentials[0].token: T_FILE names /nonexistent/t, which does not exist",
    );
    const notKey = file("not a key");
    expect(err(`credentials:\n  - host: github.com\n    githubApp: { appId: 1, installationId: 2, privateKey: { file: ${notKey} } }\n`)).toBe(
      `/etc/x/git.yaml: credentials[0].githubApp.privateKey: ${notKey} is not a PEM private key`,
    );
    expect(err("credentials:\n  - host: github.com\n    githubApp: { appId: 1, installationId: 2, privateKey: { secret: K } }\n", { K: "junk" })).toContain(
      "K is not a PEM private key",
    );
  });

  it("loads the operator's file (BERTH_GIT_CREDENTIALS), which must exist, else the system file if present", () => {
    expect(() => loadGitCredentials({ file: "/nonexistent/g.yaml", env: {} })).toThrow(
      "/nonexistent/g.yaml: named by $BERTH_GIT_CREDENTIALS but does not exist",
    );
    expect(loadGitCredentials({ env: {}, systemFile: "/nonexistent/system.yaml" })).toBeUndefined();
    const tokenFile = file(canary("tok") + "\n");
    const p = file(`username: bot\ncredentials:\n  - host: GitHub.com\n    path: /my-org/\n    token: { secret: GH }\n`);
    const c = loadGitCredentials({ file: p, env: { GH_FILE: tokenFile } })!;
    expect(c.file).toBe(p);
    expect(c.username).toBe("bot");
    expect(c.entries[0]).toMatchObject({ host: "github.com", path: "my-org", protocol: "https", source: { kind: "token", secret: "GH" } });
    expect(loadGitCredentials({ env: {}, systemFile: file("") })!.entries).toEqual([]);
  });

  it("normalizes hosts as git names them", () => {
    expect(normalizeGitHost("GitHub.COM")).toBe("github.com");
    expect(normalizeGitHost("127.0.0.2:8080")).toBe("127.0.0.2:8080");
    expect(normalizeGitHost("[::1]:80")).toBe("[::1]:80");
    expect(normalizeGitHost("x:0")).toBeUndefined();
    expect(normalizeGitHost("a/b")).toBeUndefined();
    expect(parseGitHosts(["GitHub.com"])).toEqual(["github.com"]);
    expect(() => parseGitHosts(["https://github.com/org"])).toThrow(/invalid git host "https:\/\/github\.com\/org"/);
  });
});

describe("git credential service", () => {
  const TOKEN = canary("static");
  const OTHER = canary("other");
  const yaml = `
credentials:
  - host: github.com
    token: { secret: GH_TOKEN }
  - host: github.com
    path: special-org
    username: special
    token: { secret: OTHER_TOKEN }
  - host: 127.0.0.2:8080
    protocol: http
    token: { secret: GH_TOKEN }
`;
  const env = { GH_TOKEN: TOKEN, OTHER_TOKEN: OTHER };

  it("answers only for hosts the session allows, and records every decision without the secret", async () => {
    const { svc, redactor, decisions } = service(yaml, env, { s1: ["github.com"], s2: [] });
    expect(await svc.get("s1", { protocol: "https", host: "github.com", path: "a/b.git" })).toEqual({ username: "x-access-token", password: TOKEN });
    expect(await svc.get("s2", { protocol: "https", host: "github.com" })).toBeUndefined();
    expect(await svc.get("unknown", { protocol: "https", host: "github.com" })).toBeUndefined();
    // Allowed for the session, but nothing in the file serves it.
    const { svc: svc3, decisions: d3 } = service(yaml, env, { s: ["gitlab.com", "127.0.0.2:8080", "github.com"] });
    expect(await svc3.get("s", { protocol: "https", host: "gitlab.com" })).toBeUndefined();
    // Plain http only where an entry says so.
    expect(await svc3.get("s", { protocol: "http", host: "github.com" })).toBeUndefined();
    expect(await svc3.get("s", { protocol: "http", host: "127.0.0.2:8080" })).toMatchObject({ password: TOKEN });
    expect(d3.map((d) => d.outcome)).toEqual(["refused", "refused", "issued"]);
    expect(d3[0]!.reason).toContain("no entry in /etc/berth/git-credentials.yaml serves https://gitlab.com");

    expect(decisions.map((d) => [d.sessionId, d.outcome])).toEqual([["s1", "issued"], ["s2", "refused"], ["unknown", "refused"]]);
    expect(decisions[0]).toMatchObject({ host: "github.com", path: "a/b.git", source: "token", entry: 0 });
    expect(decisions[1]!.reason).toBe("host is not in the session's git.hosts");
    expect(JSON.stringify([...decisions, ...d3])).not.toContain(TOKEN);
    // Issued values are redacted wherever berth writes.
    expect(redactor.redact(`echo ${TOKEN}`)).toBe(`echo ${REDACTED}`);
  });

  it("prefers the longest matching path prefix, by whole segments", async () => {
    const { svc } = service(yaml, env, { s: ["github.com"] });
    expect(await svc.get("s", { protocol: "https", host: "github.com", path: "special-org/repo.git" })).toEqual({ username: "special", password: OTHER });
    expect(await svc.get("s", { protocol: "https", host: "github.com", path: "special-orgx/repo.git" })).toMatchObject({ password: TOKEN });
    expect(await svc.get("s", { protocol: "https", host: "github.com" })).toMatchObject({ password: TOKEN });
  });

  it("runs a command source without a shell, git's description on stdin; stderr is never read", async () => {
    const script = file(`
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  process.stderr.write("secret on stderr: " + process.env.CMD_SECRET + "\\n");
  const host = /host=(.*)/.exec(input)[1];
  const path = (/path=(.*)/.exec(input) || [])[1];
  if (host === "plain.example") process.stdout.write(process.env.CMD_SECRET + "\\n");
  else if (host === "kv.example") process.stdout.write("username=u-" + path + "\\npassword=" + process.env.CMD_SECRET + "\\npassword_expiry_utc=2000000000\\n");
  else if (host === "slow.example") setTimeout(() => {}, 60000);
  else process.exit(3);
});
`);
    const secret = canary("cmd");
    const hosts = ["plain.example", "kv.example", "slow.example", "fail.example"];
    const y = `credentials:\n${hosts.map((h) => `  - host: ${h}\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}]\n    timeoutMs: 1500\n`).join("")}`;
    process.env.CMD_SECRET = secret;
    try {
      const { svc, decisions, redactor } = service(y, {}, { s: hosts });
      expect(await svc.get("s", { protocol: "https", host: "plain.example" })).toEqual({ username: "x-access-token", password: secret });
      expect(await svc.get("s", { protocol: "https", host: "kv.example", path: "o/r.git" })).toEqual({ username: "u-o/r.git", password: secret, expiresAt: 2_000_000_000_000 });
      const t0 = Date.now();
      expect(await svc.get("s", { protocol: "https", host: "slow.example" })).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await svc.get("s", { protocol: "https", host: "fail.example" })).toBeUndefined();
      expect(decisions.map((d) => d.outcome)).toEqual(["issued", "issued", "failed", "failed"]);
      expect(decisions[2]!.reason).toMatch(/did not finish within 1500 ms/);
      expect(decisions[3]!.reason).toMatch(/exited with code 3/);
      expect(JSON.stringify(decisions)).not.toContain(secret);
      expect(redactor.redact(secret)).toBe(REDACTED);
    } finally {
      delete process.env.CMD_SECRET;
    }
  });

  it("reads git-credential lines or a single token from a command", () => {
    expect(parseCommandOutput("tok\n")).toEqual({ password: "tok" });
    expect(parseCommandOutput("username=a\npassword=b=c\n")).toEqual({ username: "a", password: "b=c" });
    expect(() => parseCommandOutput("one\ntwo\n")).toThrow(/printed 2 lines/);
  });
});

// --- GitHub App against a local fake GitHub API (fake-github.ts) -------------------------

describe("GitHub App source", () => {
  const clock = { t: Date.parse("2030-01-01T00:00:00Z") };
  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = await fakeGitHub(publicKey, () => clock.t);
  });
  afterAll(() => gh.close());

  it("signs an RS256 JWT the public key verifies, with iss = the App id", () => {
    const jwt = appJwt("4242", privateKey, clock.t);
    const [h, p, s] = jwt.split(".");
    expect(JSON.parse(Buffer.from(h!, "base64url").toString())).toEqual({ alg: "RS256", typ: "JWT" });
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    expect(claims.iss).toBe(4242);
    expect(claims.iat).toBe(clock.t / 1000 - 60);
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);
    expect(verify("sha256", Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s!, "base64url"))).toBe(true);
  });

  it("trades the JWT for an installation token, caches it, and refreshes it near expiry", async () => {
    const keyFile = file(PEM);
    const y = `credentials:\n  - host: github.com\n    githubApp: { appId: 4242, installationId: 99, apiUrl: "${gh.url}", privateKey: { file: ${keyFile} } }\n`;
    const { svc, redactor, decisions } = service(y, {}, { s: ["github.com"] }, { now: () => clock.t });
    const first = await svc.get("s", { protocol: "https", host: "github.com" });
    expect(first).toMatchObject({ username: "x-access-token", password: expect.stringMatching(/^inst-1-/), expiresAt: clock.t + 3600_000 });
    expect(gh.calls).toHaveLength(1);
    expect(gh.calls[0]).toMatchObject({ path: "/app/installations/99/access_tokens", signatureOk: true, claims: { iss: 4242 } });

    // Cached: 54 minutes later it still has 6 minutes, more than the 5-minute margin.
    clock.t += 54 * 60_000;
    expect((await svc.get("s", { protocol: "https", host: "github.com" }))!.password).toBe(first!.password);
    expect(gh.calls).toHaveLength(1);

    // Within the margin: refreshed before it is handed out.
    clock.t += 2 * 60_000;
    const second = await svc.get("s", { protocol: "https", host: "github.com" });
    expect(second!.password).toMatch(/^inst-2-/);
    expect(second!.expiresAt).toBe(clock.t + 3600_000);
    expect(gh.calls).toHaveLength(2);
    expect(decisions.every((d) => d.outcome === "issued" && d.source === "githubApp")).toBe(true);
    expect(redactor.redact(`${first!.password} ${second!.password}`)).toBe(`${REDACTED} ${REDACTED}`);
  });

  it("shares one request among concurrent callers, and reports GitHub's refusal", async () => {
    const tokens = new GitHubAppTokens({ appId: "4242", installationId: "7", privateKey, apiUrl: gh.url, now: () => clock.t });
    const before = gh.calls.length;
    const [a, b] = await Promise.all([tokens.token(), tokens.token()]);
    expect(a).toBe(b);
    expect(gh.calls.length).toBe(before + 1);

    const wrongKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const bad = new GitHubAppTokens({ appId: "4242", installationId: "7", privateKey: wrongKey, apiUrl: gh.url, now: () => clock.t });
    await expect(bad.token()).rejects.toThrow(`GitHub App 4242: POST ${gh.url}/app/installations/7/access_tokens answered 401: A JSON web token could not be decoded`);
  });
});

// --- the gateway route and the helper -------------------------------------------------

describe("gateway route and git-credential-berth", () => {
  const TOKEN = canary("gw");
  let gw: ModelGateway;
  let sessionToken: string;
  let otherToken: string;
  let helper: string;
  beforeAll(async () => {
    const { svc } = service("credentials:\n  - host: git.example\n    token: { secret: T }\n", { T: TOKEN }, { s1: ["git.example"], s2: [] });
    gw = new ModelGateway({ redactor: new Redactor(), internal: (req, res, sessionId) => svc.serve(req, res, sessionId) });
    await gw.start();
    const noModels = {
      upstream: () => {
        throw new Error("no model traffic in this test");
      },
    };
    sessionToken = gw.mint("s1", noModels);
    otherToken = gw.mint("s2", noModels);
    helper = file(GIT_CREDENTIAL_HELPER_JS);
  });
  afterAll(() => gw.close());

  const post = (token: string, body: unknown) =>
    fetch(`${gw.url}/_berth/git/credential`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

  it("serves POST /_berth/git/credential behind the session token", async () => {
    const ok = await post(sessionToken, { protocol: "https", host: "git.example", path: "r.git" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    expect(await ok.json()).toEqual({ username: "x-access-token", password: TOKEN });
    expect((await post(otherToken, { protocol: "https", host: "git.example" })).status).toBe(204);
    expect((await post("bgt_wrong", { protocol: "https", host: "git.example" })).status).toBe(401);
    expect((await post(sessionToken, { host: "git.example" })).status).toBe(400);
    expect((await fetch(`${gw.url}/_berth/other`, { headers: { authorization: `Bearer ${sessionToken}` } })).status).toBe(404);
  });

  const runHelper = (token: string, input: string, op = "get") =>
    run(process.execPath, [helper, op], input, { BERTH_GATEWAY_TOKEN: token, BERTH_GATEWAY_URL: gw.url });

  it("prints git's credential lines for an allowed host and nothing otherwise, never the token on stderr", async () => {
    const ok = await runHelper(sessionToken, "protocol=https\nhost=git.example\npath=r.git\nwwwauth[]=Basic\n\n");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`username=x-access-token\npassword=${TOKEN}\n`);
    const refused = await runHelper(otherToken, "protocol=https\nhost=git.example\n\n");
    expect([refused.status, refused.stdout, refused.stderr]).toEqual([0, "", ""]);
    const badToken = await runHelper("bgt_wrong", "protocol=https\nhost=git.example\n\n");
    expect([badToken.status, badToken.stdout, badToken.stderr]).toEqual([0, "", "git-credential-berth: berth answered HTTP 401\n"]);
    expect((await runHelper(sessionToken, "protocol=https\nhost=git.example\n\n", "store")).stdout).toBe("");
    for (const r of [ok, refused, badToken]) expect(r.stderr).not.toContain(sessionToken);
  });

  it("is what plain git uses with the sandbox's git config", async () => {
    const [, cfg] = gitCredentialSandboxFiles(process.execPath);
    const configPath = file(cfg!.content.replace("/run/berth/git-credential-berth", helper));
    const fill = (token: string) =>
      run("git", ["credential", "fill"], "url=https://git.example/org/r.git\n\n", {
        PATH: process.env.PATH!,
        GIT_CONFIG_SYSTEM: configPath,
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_TERMINAL_PROMPT: "0",
        BERTH_GATEWAY_TOKEN: token,
        BERTH_GATEWAY_URL: gw.url,
      });
    const ok = await fill(sessionToken);
    expect(ok.stdout).toContain("path=org/r.git\n");
    expect(ok.stdout).toContain(`password=${TOKEN}\n`);
    const refused = await fill(otherToken);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/terminal prompts disabled/);
  });
});
