import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Redactor } from "../../src/secrets/redact.js";
import { Allowlist, globToRegExp } from "../../src/secrets/allowlist.js";
import { ChunkScanner, scanText } from "../../src/secrets/chunk-scanner.js";
import { excerpt, findSecrets, fingerprint } from "../../src/secrets/matcher.js";
import { addedBlocks, scanDiff, scanTree } from "../../src/secrets/scan.js";
import { CREDENTIAL_SHAPES, HTTP_AUTH_SHAPE } from "../../src/secrets/shapes.js";
import { fake, randomToken } from "../images/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "berth-scan-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("credential shapes", () => {
  it.each([
    ["anthropic-key", fake.anthropic()],
    ["openai-key", fake.openai()],
    ["github-token", fake.github()],
    ["github-token", ["github", "pat", randomToken(60)].join("_")],
    ["aws-access-key-id", fake.aws()],
    ["private-key", fake.pem()],
    ["private-key", fake.pem(true)], // inside a JSON string: escaped newlines
    ["slack-token", ["xo", "xb-", "8302519647-", randomToken(24)].join("")],
    ["google-api-key", ["AI", "za", randomToken(35)].join("")],
    ["npm-token", fake.npm()],
    ["berth-token", ["br", "t_", randomToken(43)].join("")],
    ["http-auth", ["Bear", "er ", randomToken(40)].join("")],
    ["http-auth", ["Bas", "ic ", Buffer.from("deploy:" + randomToken(12)).toString("base64")].join("")],
  ])("finds a %s", (kind, secret) => {
    const text = `config:\n  value: "${secret}"\n`;
    expect(findSecrets(text)).toEqual([{ kind, start: 18, end: 18 + secret.length, value: secret }]);
  });

  it.each([
    ["a placeholder", `sk-ant-api03-${"x".repeat(40)}`],
    ["a documentation key", ["AKIA", "IOSFODNN7", "EXAMPLE"].join("")],
    ["a sequence", ["gh", "p_", "abcdefghijklmnopqrstuvwxyz0123456789"].join("")],
    ["sk- inside a word", "disk-usage-monitor-and-cleanup-service-name-here"],
    ["a kebab-case identifier", "sk-this-is-a-long-kebab-case-identifier-name"],
    ["PEM markers quoted in code", `"-----BEGIN ${"PRIVATE"} KEY-----" ... "-----END ${"PRIVATE"} KEY-----"`],
    ["a short bearer", "Bearer sk-ant-oat-x"],
    ["prose", "only basic authentication-is-supported-here"],
    ["a Basic value that is not base64 of user:password", "Basic " + "Zm9vYmFyYmF6cXV4cXV1eA"],
    ["words joined by dashes", "Bearer " + "otlp-secret-token-123"],
  ])("ignores %s", (_what, text) => {
    expect(findSecrets(text)).toEqual([]);
  });

  it("the redactor hides what the scanner finds", () => {
    const r = new Redactor();
    for (const s of [fake.anthropic(), fake.github(), fake.aws(), fake.pem()]) expect(r.redact(`a ${s} b`)).toBe("a [REDACTED] b");
    expect(CREDENTIAL_SHAPES.every((s) => s.re.global)).toBe(true);
    expect(HTTP_AUTH_SHAPE.flags).toContain("i");
  });

  it("finds a real key after a quoted BEGIN marker", () => {
    const pem = fake.pem();
    const text = `const marker = "-----BEGIN ${"PRIVATE"} KEY-----";\n${pem}\n`;
    expect(findSecrets(text).map((m) => m.value)).toEqual([pem]);
  });
});

describe("excerpts and fingerprints", () => {
  it("never show the secret, nor a neighbouring one cut by the excerpt's edge", () => {
    const a = fake.anthropic();
    const b = fake.openai();
    const text = `X=${a} Y=${b}\n`;
    const [m1, m2] = findSecrets(text);
    for (const m of [m1!, m2!]) {
      const e = excerpt(text, m, 20);
      expect(e).not.toContain(a.slice(14, 30));
      expect(e).not.toContain(b.slice(8, 24));
      expect(e).toMatch(/\[REDACTED\]/);
    }
    expect(excerpt(text, m1!, 40)).toBe("X=sk-ant-api03-[REDACTED] Y=[REDACTED]…");
    expect(fingerprint(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(a)).not.toBe(fingerprint(b));
  });

  it("a chunked scan finds a secret across a chunk boundary once, on the right line", () => {
    const key = fake.github();
    const text = "line\n".repeat(1000) + "t=" + key + "\n" + "tail\n".repeat(10);
    const whole = scanText("f", text);
    expect(whole).toEqual([expect.objectContaining({ line: 1001, kind: "github-token", fingerprint: fingerprint(key) })]);
    for (const cut of [5000, 5002, 5010, 5002 + key.length - 1, 5002 + key.length, 5200]) {
      const s = new ChunkScanner("f", 64);
      const buf = Buffer.from(text);
      s.push(buf.subarray(0, cut));
      s.push(buf.subarray(cut));
      expect(s.end(), `cut at ${cut}`).toEqual(whole);
    }
  });
});

describe("allowlist", () => {
  it("globs", () => {
    const t = (g: string, p: string) => globToRegExp(g).test(p);
    expect(t("test/**", "test/e2e/a.test.ts")).toBe(true);
    expect(t("test/**", "src/a.ts")).toBe(false);
    expect(t("**/fixtures/*.pem", "test/fixtures/a.pem")).toBe(true);
    expect(t("**/fixtures/*.pem", "fixtures/a.pem")).toBe(true);
    expect(t("**/fixtures/*.pem", "test/fixtures/sub/a.pem")).toBe(false);
    expect(t("docs/*.{md,txt}", "docs/a.txt")).toBe(true);
    expect(t("a?.ts", "ab.ts")).toBe(true);
    expect(t("a.ts", "abts")).toBe(false);
  });

  it("matches every field of an entry, counts use, and refuses entries without a reason", () => {
    const fp = fingerprint("x");
    const a = new Allowlist([
      { fingerprint: fp, path: "test/**", reason: "canary" },
      { path: "docs/**", kind: "aws-access-key-id", reason: "docs example" },
      { fingerprint: "0000000000000000", reason: "stale" },
    ]);
    expect(a.match({ path: "test/a.ts", fingerprint: fp, kind: "anthropic-key" })?.reason).toBe("canary");
    expect(a.match({ path: "src/a.ts", fingerprint: fp, kind: "anthropic-key" })).toBeUndefined();
    expect(a.match({ path: "docs/x.md", fingerprint: "1", kind: "aws-access-key-id" })?.reason).toBe("docs example");
    expect(a.match({ path: "docs/x.md", fingerprint: "1", kind: "github-token" })).toBeUndefined();
    expect(a.unused().map((e) => e.reason)).toEqual(["stale"]);

    const f = join(tmp, "allow.yaml");
    writeFileSync(f, "allow:\n  - path: test/**\n");
    expect(() => Allowlist.load(f)).toThrow(/reason/);
    writeFileSync(f, "allow:\n  - reason: nothing to match\n");
    expect(() => Allowlist.load(f)).toThrow(/path glob or a fingerprint/);
    writeFileSync(f, "allow:\n  - fingerprint: sk-ant-not-a-fingerprint\n    reason: a secret pasted in\n");
    expect(() => Allowlist.load(f)).toThrow(/16-hex-digit/);
    writeFileSync(f, "# nothing allowed yet\nallow: []\n");
    expect(Allowlist.load(f).unused()).toEqual([]);
  });
});

function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmp, "repo-"));
  const git = (...a: string[]) => execFileSync("git", a, { cwd: dir, stdio: "pipe" });
  git("init", "-q", "-b", "main");
  git("config", "user.email", "t@example.invalid");
  git("config", "user.name", "t");
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), v);
  }
  git("add", "-A");
  git("commit", "-qm", "init", "--allow-empty");
  return dir;
}

describe("secrets scan", () => {
  it("scans tracked and untracked files, not ignored ones, and honours the allowlist file", async () => {
    const tracked = fake.anthropic();
    const canary = fake.github();
    const dir = repo({ ".gitignore": "ignored.txt\n", "src/config.ts": `export const KEY = "${tracked}";\n`, "test/canary.test.ts": `// canary\nconst T = "${canary}";\n` });
    writeFileSync(join(dir, "untracked.env"), `A=1\nB=2\nAWS=${fake.aws()}\n`);
    writeFileSync(join(dir, "ignored.txt"), fake.npm());
    writeFileSync(join(dir, ".berth-secrets-allow.yaml"), `allow:\n  - fingerprint: ${fingerprint(canary)}\n    path: test/**\n    reason: canary token the tests look for in logs\n`);
    const r = await scanTree(dir);
    expect(r.findings.map((f) => [f.path, f.line, f.kind])).toEqual([
      ["src/config.ts", 1, "anthropic-key"],
      ["untracked.env", 3, "aws-access-key-id"],
    ]);
    expect(r.allowed).toEqual([expect.objectContaining({ path: "test/canary.test.ts", line: 2, reason: "canary token the tests look for in logs" })]);
    expect(JSON.stringify(r)).not.toContain(tracked.slice(14));
    // A subdirectory: only its files, paths still from the repository root.
    expect((await scanTree(join(dir, "src"))).findings.map((f) => f.path)).toEqual(["src/config.ts"]);
  });

  it("scans only the lines a diff adds (and new untracked files)", async () => {
    const old = fake.anthropic();
    const dir = repo({ "a.txt": `one\n${old}\nthree\n` });
    const added = fake.openai();
    writeFileSync(join(dir, "a.txt"), `one\n${old}\nthree\nfour\nfive ${added}\n`);
    writeFileSync(join(dir, "new.txt"), `x\n${fake.github()}\n`);
    const r = await scanDiff(dir, "HEAD");
    expect(r.findings.map((f) => [f.path, f.line, f.kind])).toEqual([
      ["a.txt", 5, "openai-key"],
      ["new.txt", 2, "github-token"],
    ]);
    execFileSync("git", ["add", "-A"], { cwd: dir });
    execFileSync("git", ["commit", "-qm", "two"], { cwd: dir });
    const range = await scanDiff(dir, "HEAD~1..HEAD");
    expect(range.findings.map((f) => [f.path, f.line])).toEqual([
      ["a.txt", 5],
      ["new.txt", 2],
    ]);
    expect((await scanDiff(dir, "HEAD")).findings).toEqual([]);
    await expect(scanDiff(dir, "--output=/tmp/x")).rejects.toThrow(/not a revision/);
  });

  it("parses added lines from a unified diff, including +++ content lines", () => {
    const diff = [
      "diff --git a/x b/x",
      "index 1..2 100644",
      "--- a/x",
      "+++ b/x",
      "@@ -1,0 +2,2 @@",
      "+a",
      "++++ not a header",
      "@@ -9 +11 @@",
      "-gone",
      "+b",
      "diff --git a/bin b/bin",
      "Binary files a/bin and b/bin differ",
      "diff --git a/gone b/gone",
      "--- a/gone",
      "+++ /dev/null",
      "@@ -1 +0,0 @@",
      "-x",
    ].join("\n");
    expect(addedBlocks(diff)).toEqual({
      blocks: [
        { path: "x", line: 2, text: "a\n+++ not a header" },
        { path: "x", line: 11, text: "b" },
      ],
      binary: ["bin"],
    });
  });

  it("CLI: exit 1 with a table of redacted findings, 0 when clean", () => {
    const key = fake.anthropic();
    const dir = repo({ "leak.ts": `const k = "${key}";\n` });
    const runner = fileURLToPath(new URL("../images/run-cli.ts", import.meta.url));
    const run = (...a: string[]) => spawnSync(process.execPath, ["--import", "tsx", runner, "secrets", "scan", dir, ...a], { encoding: "utf8" });
    const bad = run();
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^LOCATION\s+KIND\s+FINGERPRINT\s+EXCERPT$/m);
    expect(bad.stdout).toContain(`leak.ts:1  anthropic-key  ${fingerprint(key)}  const k = "sk-ant-api03-[REDACTED]";`);
    expect(bad.stdout + bad.stderr).not.toContain(key.slice(14));
    writeFileSync(join(dir, ".berth-secrets-allow.yaml"), `allow:\n  - fingerprint: ${fingerprint(key)}\n    reason: test\n`);
    const ok = run("--json");
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ findings: [], allowed: [{ path: "leak.ts" }] });
  });
});
