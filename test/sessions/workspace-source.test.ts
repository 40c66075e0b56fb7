import { describe, expect, it } from "vitest";
import { checkGitSeed, gitCloneCommand } from "../../src/sessions/workspace-source.js";

const allow = { egressAllow: ["git.example.com", "127.0.0.2:8080"] };

describe("a workspace seeded from git", () => {
  it("accepts http(s) URLs of hosts the network policy allows, with a branch, tag or commit", () => {
    expect(checkGitSeed({ url: "https://git.example.com/org/repo.git", ref: "release/1.2", depth: 1 }, allow)).toEqual({ url: "https://git.example.com/org/repo.git", ref: "release/1.2", depth: 1 });
    expect(checkGitSeed({ url: "http://127.0.0.2:8080/repo.git" }, allow).url).toBe("http://127.0.0.2:8080/repo.git");
  });

  const refused: [string, { url: string; ref?: string }, string][] = [
    ["a credential in the URL", { url: "https://x-access-token:ghp_secret@git.example.com/r.git" }, "invalid_git_source"],
    ["ssh", { url: "ssh://git@git.example.com/r.git" }, "invalid_git_source"],
    ["file://", { url: "file:///root/secret-repo" }, "invalid_git_source"],
    ["git's ext:: transport", { url: "ext::sh -c touch% /tmp/pwned" }, "invalid_git_source"],
    ["a host path", { url: "/srv/repo.git" }, "invalid_git_source"],
    ["an option as a ref", { url: "https://git.example.com/r.git", ref: "--upload-pack=touch /tmp/x" }, "invalid_git_source"],
    ["a ref with ..", { url: "https://git.example.com/r.git", ref: "main..HEAD" }, "invalid_git_source"],
    ["a host the network policy refuses", { url: "https://169.254.169.254/latest/meta-data" }, "git_host_not_allowed"],
    ["an allowed host on another port", { url: "http://127.0.0.2:9999/repo.git" }, "git_host_not_allowed"],
  ];
  for (const [what, src, code] of refused)
    it(`refuses ${what} (${code}), without echoing a secret`, () => {
      let err: { code?: string; message?: string } | undefined;
      try {
        checkGitSeed(src, allow);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe(code);
      expect(err?.message).not.toContain("ghp_secret");
    });

  it("clones with only http(s) allowed, no hooks, no submodules; a commit id is checked out after", () => {
    const branch = gitCloneCommand({ url: "https://git.example.com/r.git", ref: "main", depth: 1 }, "/workspace");
    expect(branch).toEqual(expect.arrayContaining(["protocol.allow=never", "core.hooksPath=/dev/null", "--no-recurse-submodules", "--depth=1", "--branch", "main", "--", "https://git.example.com/r.git", "/workspace"]));
    expect(branch.indexOf("--")).toBeLessThan(branch.indexOf("https://git.example.com/r.git"));
    const sha = "a".repeat(40);
    const commit = gitCloneCommand({ url: "https://git.example.com/r.git", ref: sha }, "/workspace");
    expect(commit[0]).toBe("/bin/sh");
    expect(commit).not.toContain("--branch");
    expect(commit.slice(4, 6)).toEqual(["/workspace", sha]);
  });
});
