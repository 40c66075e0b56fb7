import { chmodSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  alwaysRefused,
  assertAgentWritable,
  resolveWorkspace,
  within,
  workspacePolicy,
  WorkspaceConfigError,
  type WorkspacePolicy,
} from "../../src/sessions/workspace.js";
import { BerthError } from "../../src/util/errors.js";

let base: string;
let root: string;
let ws: string;
let home: string;
let cache: string;
let policy: WorkspacePolicy;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), "berth-ws-unit-")));
  chmodSync(base, 0o755);
  root = join(base, "root");
  ws = join(root, "ws");
  home = join(base, "home");
  cache = join(base, "cache");
  for (const d of [root, ws, home, cache, join(root, "other")]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, "file"), "x");
  symlinkSync("/etc", join(root, "to-etc"));
  symlinkSync(join(root, "to-etc"), join(root, "chain"));
  symlinkSync(ws, join(root, "to-ws"));
  symlinkSync(home, join(root, "to-home"));
  symlinkSync(root, join(root, "to-root"));
  symlinkSync(root, join(base, "root-link"));
  mkdirSync(join(root, "café-ünï"));
  policy = workspacePolicy({ roots: [root], home, harnessCache: cache });
});

/** The code of the BerthError `f` throws. */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof BerthError) return `${e.status} ${e.code}`;
    throw e;
  }
  return "accepted";
}

describe("resolveWorkspace", () => {
  it("accepts a directory inside a root, in its canonical form however it is spelled", () => {
    for (const p of [ws, `${ws}/`, `${ws}//`, `${root}//ws`, `${root}/./ws`, `${root}/other/../ws`, join(root, "to-ws"), `${base}/root-link/ws`])
      expect(resolveWorkspace(p, policy), p).toBe(ws);
    expect(resolveWorkspace(join(root, "café-ünï"), policy)).toBe(join(root, "café-ünï"));
  });

  it("refuses what is not a well-formed absolute path", () => {
    for (const p of ["relative/ws", "", `${ws}\0/x`, "/" + "a".repeat(5000), 42, null])
      expect(codeOf(() => resolveWorkspace(p, policy)), String(p).slice(0, 40)).toBe("400 invalid_workspace");
  });

  it("refuses every path that resolves outside the roots, or to a root itself", () => {
    for (const p of [
      root,
      `${root}/`,
      `${ws}/..`,
      `${ws}/../..`,
      `${ws}/../../home`,
      join(root, "to-etc"),
      join(root, "chain"),
      join(root, "to-home"),
      join(root, "to-root"),
      `${base}/root-link`,
      "/etc",
      "/",
      "//",
      "/root",
      "/tmp",
      "/etc/../etc/ssh",
      "/nonexistent-outside/x",
      `${base}/nowhere`,
      `${ws}/../../root-link/..`,
    ])
      expect(codeOf(() => resolveWorkspace(p, policy)), p).toBe("400 workspace_not_allowed");
  });

  it("says nothing about whether a path outside the roots exists; inside them, it says what is wrong", () => {
    expect(codeOf(() => resolveWorkspace("/no/such/dir", policy))).toBe("400 workspace_not_allowed");
    expect(codeOf(() => resolveWorkspace(join(root, "missing"), policy))).toBe("400 invalid_workspace");
    expect(codeOf(() => resolveWorkspace(join(root, "file"), policy))).toBe("400 invalid_workspace");
  });

  it("with no roots, refuses every caller path and names the variable", () => {
    const none = workspacePolicy({ roots: [], home, harnessCache: cache });
    expect(() => resolveWorkspace(ws, none)).toThrow(/BERTH_WORKSPACE_ROOTS/);
    expect(codeOf(() => resolveWorkspace(ws, none))).toBe("400 workspace_not_allowed");
  });

  it("an operator-named exact workspace is accepted as it is, and nothing under or above it", () => {
    const run = workspacePolicy({ roots: [], exact: [ws], home, harnessCache: cache });
    expect(resolveWorkspace(`${ws}/`, run)).toBe(ws);
    mkdirSync(join(ws, "sub"), { recursive: true });
    expect(codeOf(() => resolveWorkspace(join(ws, "sub"), run))).toBe("400 workspace_not_allowed");
    expect(codeOf(() => resolveWorkspace(root, run))).toBe("400 workspace_not_allowed");
  });
});

describe("workspacePolicy (the operator's roots, checked at server start)", () => {
  it("canonicalises a root that is a symlink", () => {
    expect(workspacePolicy({ roots: [join(base, "root-link")], home, harnessCache: cache }).roots).toEqual([root]);
  });

  it("refuses a root that is not an existing absolute directory, a system directory, or holds berth's state", () => {
    for (const r of ["relative", join(base, "missing"), join(root, "file"), "/", "/etc", "/usr/lib", "/tmp", "/home", "/var", base, home, join(home), cache, join(root, "to-etc"), `${home}/..`])
      expect(() => workspacePolicy({ roots: [r], home, harnessCache: cache }), r).toThrow(WorkspaceConfigError);
    mkdirSync(join(home, "inner"), { recursive: true });
    expect(() => workspacePolicy({ roots: [join(home, "inner")], home, harnessCache: cache })).toThrow(/berth's own state/);
  });

  it("an exact workspace is still subject to the always-refused list", () => {
    for (const r of ["/etc", "/", "/root", home, cache])
      expect(() => workspacePolicy({ roots: [], exact: [r], home, harnessCache: cache }), r).toThrow(WorkspaceConfigError);
  });
});

describe("alwaysRefused / within", () => {
  it("system trees and their subtrees; shared parents themselves only", () => {
    for (const p of ["/", "/etc", "/etc/ssh", "/usr/local", "/usr/local/src", "/var/lib/docker", "/proc/1", "/root/.ssh", "/home", "/var", "/tmp", "/opt", "/srv", "/boot/efi"])
      expect(alwaysRefused(p, []), p).toBeDefined();
    for (const p of ["/home/alice/src", "/tmp/ws", "/srv/ws", "/opt/work/x", "/etcetera", "/variable"]) expect(alwaysRefused(p, []), p).toBeUndefined();
    expect(alwaysRefused("/srv/berth", ["/srv/berth/home"])).toMatch(/contains berth's own state/);
  });

  it("within is by path component, not by string prefix", () => {
    expect(within("/a/b", "/a")).toBe(true);
    expect(within("/a", "/a")).toBe(true);
    expect(within("/ab", "/a")).toBe(false);
    expect(within("/x", "/")).toBe(true);
  });
});

describe("assertAgentWritable", () => {
  const agent = { uid: 1000, gid: 1000 };

  it("refuses a directory uid 1000 cannot write, saying how to fix it", () => {
    const d = mkdtempSync(join(base, "ro-"));
    chmodSync(d, 0o755);
    expect(codeOf(() => assertAgentWritable(d, agent))).toBe("400 workspace_not_writable");
    expect(() => assertAgentWritable(d, agent)).toThrow(/chown 1000:1000/);
    chmodSync(d, 0o777);
    expect(codeOf(() => assertAgentWritable(d, agent))).toBe("accepted");
  });

  it("refuses one whose ancestor uid 1000 cannot search", () => {
    const closed = mkdtempSync(join(base, "closed-"));
    chmodSync(closed, 0o700);
    const d = join(closed, "ws");
    mkdirSync(d, { mode: 0o777 });
    chmodSync(d, 0o777);
    expect(() => assertAgentWritable(d, agent)).toThrow(/not searchable/);
  });
});
