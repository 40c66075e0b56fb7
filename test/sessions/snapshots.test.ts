import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WorkspaceSnapshots } from "../../src/sessions/snapshots.js";

// Real git on real directories: what a turn changed, and what the agent cannot make it do.
describe("workspace snapshots", () => {
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-snap-"));
    const ws = join(dir, "ws");
    mkdirSync(ws);
    return { dir, ws, snaps: new WorkspaceSnapshots(join(dir, "snapshots")) };
  };

  it("lists added, modified and deleted files, binary ones without inlining them, and the text diff", async () => {
    const { dir, ws, snaps } = setup();
    writeFileSync(join(ws, "keep.txt"), "one\ntwo\n");
    writeFileSync(join(ws, "gone.txt"), "bye\n");
    await snaps.take("ses_1", ws, "turns/t1/start");
    writeFileSync(join(ws, "keep.txt"), "one\nTWO\nthree\n");
    rmSync(join(ws, "gone.txt"));
    writeFileSync(join(ws, "new.bin"), Buffer.from([0, 1, 2, 0, 255, 0]));
    mkdirSync(join(ws, "sub"));
    writeFileSync(join(ws, "sub", "new.txt"), "hi\n");
    await snaps.take("ses_1", ws, "turns/t1/end");
    const d = await snaps.diff("ses_1", "turns/t1/start", "turns/t1/end");
    expect(d.files).toEqual([
      { path: "gone.txt", change: "deleted", binary: false, additions: 0, deletions: 1 },
      { path: "keep.txt", change: "modified", binary: false, additions: 2, deletions: 1 },
      { path: "new.bin", change: "added", binary: true },
      { path: "sub/new.txt", change: "added", binary: false, additions: 1, deletions: 0 },
    ]);
    expect(d.patch).toContain("-two\n+TWO\n+three\n");
    expect(d.patch).toContain("Binary files /dev/null and b/new.bin differ");
    expect(d.truncated).toBe(false);
    expect(await snaps.has("ses_1", "turns/t1/end")).toBe(true);
    // Copies of the workspace: nobody but berth reads them.
    const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? [join(d, n), ...walk(join(d, n))] : [join(d, n)]));
    const open = walk(join(dir, "snapshots")).filter((f) => (statSync(f).mode & 0o077) !== 0);
    expect(open).toEqual([]);
    expect(await snaps.has("ses_1", "turns/t9/end")).toBe(false);
  });

  it("stores a symlink as a link (never what it points at), honours .gitignore, and runs nothing the workspace plants", async () => {
    const { dir, ws, snaps } = setup();
    await snaps.take("ses_2", ws, "a");
    symlinkSync("/etc/passwd", join(ws, "passwd"));
    writeFileSync(join(ws, ".gitignore"), "node_modules/\n");
    mkdirSync(join(ws, "node_modules"));
    writeFileSync(join(ws, "node_modules", "big.js"), "x");
    // A filter driver named by .gitattributes, and hooks in a workspace .git: neither may run.
    const marker = join(dir, "pwned");
    writeFileSync(join(ws, ".gitattributes"), "* filter=evil\n");
    mkdirSync(join(ws, ".git", "hooks"), { recursive: true });
    writeFileSync(join(ws, ".git", "config"), `[filter "evil"]\n\tclean = touch ${marker}\n[core]\n\tfsmonitor = touch ${marker}\n`);
    writeFileSync(join(ws, ".git", "hooks", "post-index-change"), `#!/bin/sh\ntouch ${marker}\n`);
    chmodSync(join(ws, ".git", "hooks", "post-index-change"), 0o755);
    writeFileSync(join(ws, "a.txt"), "a\n");
    await snaps.take("ses_2", ws, "b");
    const d = await snaps.diff("ses_2", "a", "b");
    expect(d.files.map((f) => f.path).sort()).toEqual([".gitattributes", ".gitignore", "a.txt", "passwd"]);
    expect(d.patch).toContain("+/etc/passwd"); // the link's target, as text
    expect(d.patch).not.toContain("root:x:0:0");
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses a session id that is not one (no path in the store's name)", async () => {
    const { ws, snaps } = setup();
    await expect(snaps.take("../../etc", ws, "x")).rejects.toThrow(/not a session id/);
  });
});
