import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { LocalWorkspaceFiles } from "../../src/files/local.js";
import { readTar, tarOf } from "./tar.js";

// The files API's host side on a real directory, each operation in a real bubblewrap view
// of the workspace alone (install bubblewrap: apt-get install bubblewrap).

const bytes = async (r: Readable) => {
  const c: Buffer[] = [];
  for await (const x of r) c.push(x as Buffer);
  return Buffer.concat(c);
};
const root = process.getuid?.() === 0;
let ws: string;
let outside: string;
let files: LocalWorkspaceFiles;

beforeAll(() => {
  try {
    execFileSync("bwrap", ["--version"]);
  } catch {
    throw new Error("these tests need bubblewrap: apt-get install bubblewrap");
  }
  const base = mkdtempSync(join(tmpdir(), "berth-files-"));
  chmodSync(base, 0o755);
  ws = join(base, "ws");
  outside = join(base, "outside");
  mkdirSync(join(ws, "src"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "not yours\n");
  writeFileSync(join(ws, "src", "main.ts"), "0123456789abcdef\n");
  writeFileSync(join(ws, "blob.bin"), Buffer.from([0, 1, 2, 255, 254]));
  symlinkSync("/usr/lib/os-release", join(ws, "os"));
  symlinkSync(join(outside, "secret.txt"), join(ws, "secret"));
  symlinkSync(outside, join(ws, "out"));
  execFileSync("mkfifo", [join(ws, "pipe")]);
  if (root) execFileSync("chown", ["-R", "1000:1000", ws]);
  files = new LocalWorkspaceFiles(ws);
});

describe("LocalWorkspaceFiles (bubblewrap)", () => {
  it("lists a directory with types and sizes, sorted, and says when it cut the list", async () => {
    const { entries, truncated } = await files.list("", 100);
    expect(truncated).toBe(false);
    expect(entries.map((e) => `${e.name}:${e.type}`)).toEqual(["blob.bin:file", "os:symlink", "out:symlink", "pipe:other", "secret:symlink", "src:directory"]);
    expect(entries.find((e) => e.name === "blob.bin")!.size).toBe(5);
    expect((await files.list("", 2)).truncated).toBe(true);
    expect((await files.list("src", 10)).entries.map((e) => e.name)).toEqual(["main.ts"]);
  });

  it("reads a whole file and a range, byte for byte", async () => {
    const whole = await files.read("blob.bin", 0);
    expect(whole.size).toBe(5);
    expect([...(await bytes(whole.body))]).toEqual([0, 1, 2, 255, 254]);
    const part = await files.read("src/main.ts", 10, 4);
    expect(part.size).toBe(17);
    expect((await bytes(part.body)).toString()).toBe("abcd");
  });

  it("never follows a symlink out of the workspace", async () => {
    await expect(files.read("os", 0)).rejects.toMatchObject({ code: "path_escapes_workspace" });
    // The host file behind the link is not even in the view.
    await expect(files.read("secret", 0)).rejects.toMatchObject({ code: "path_not_found" });
    await expect(files.list("out", 10)).rejects.toMatchObject({ code: "path_not_found" });
    await expect(files.archive("out")).rejects.toMatchObject({ code: "path_not_found" });
  });

  it("refuses a FIFO instead of hanging on it, and says what a directory or a missing path is", async () => {
    await expect(files.read("pipe", 0)).rejects.toMatchObject({ code: "not_a_regular_file" });
    await expect(files.read("src", 0)).rejects.toMatchObject({ code: "is_a_directory" });
    await expect(files.read("nope.txt", 0)).rejects.toMatchObject({ status: 404, code: "path_not_found" });
    await expect(files.list("src/main.ts", 10)).rejects.toMatchObject({ code: "not_a_directory" });
  });

  it("extracts an archive as the agent's user and round-trips it through archive() unchanged", async () => {
    const tarFile = join(tmpdir(), `berth-files-${process.pid}.tar`);
    writeFileSync(
      tarFile,
      await tarOf([
        { name: "a.txt", mode: 0o644, uid: 1000, gid: 1000, body: "alpha\n" },
        { name: "deep/b.bin", mode: 0o600, uid: 1000, gid: 1000, body: Buffer.from([9, 8, 7]) },
      ]),
    );
    await files.extract(tarFile, "new/dir");
    expect(readFileSync(join(ws, "new/dir/a.txt"), "utf8")).toBe("alpha\n");
    if (root) expect(statSync(join(ws, "new/dir/deep/b.bin")).uid).toBe(1000);
    const got = Object.fromEntries((await readTar(await files.archive("new/dir"))).map((e) => [e.header.name, e.body.toString("hex")]));
    expect(got["./a.txt"]).toBe(Buffer.from("alpha\n").toString("hex"));
    expect(got["./deep/b.bin"]).toBe("090807");
  });

  it("cannot extract through a link the agent planted to a host directory", async () => {
    const tarFile = join(tmpdir(), `berth-files-out-${process.pid}.tar`);
    writeFileSync(tarFile, await tarOf([{ name: "planted.txt", uid: 1000, gid: 1000, body: "x" }]));
    await expect(files.extract(tarFile, "out")).rejects.toMatchObject({ code: "not_a_directory" });
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });
  it("says what to install when bubblewrap is missing", async () => {
    const none = new LocalWorkspaceFiles(ws, "/nonexistent/bwrap");
    await expect(none.list("", 10)).rejects.toMatchObject({ status: 503, code: "files_unavailable", message: expect.stringContaining("apt-get install bubblewrap") });
    await expect(none.read("src/main.ts", 0)).rejects.toMatchObject({ code: "files_unavailable" });
  });
});
