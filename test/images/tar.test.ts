import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, rmSync, symlinkSync, linkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { FileSource, readTar, StreamSource, TarFormatError, type ByteSource } from "../../src/images/tar.js";
import { Whiteouts } from "../../src/images/layers.js";
import { normPath } from "../../src/images/types.js";
import { tar } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function entries(src: ByteSource, read = true) {
  const out: { name: string; type: string; size: number; linkname: string; body?: string }[] = [];
  try {
    for await (const e of readTar(src))
      out.push({ name: e.name, type: e.type, size: e.size, linkname: e.linkname, ...(read && e.type === "file" ? { body: (await e.readAll()).toString() } : {}) });
  } finally {
    await src.close();
  }
  return out;
}

describe("readTar", () => {
  // GNU tar writes long names as 'L' records (gnu) or PAX records (pax), and ustar splits them with a prefix.
  const tree = join(dir, "tree");
  const long = `${"deep/".repeat(25)}file-with-a-long-name.txt`;
  mkdirSync(join(tree, "deep/".repeat(25)), { recursive: true });
  writeFileSync(join(tree, long), "long\n");
  writeFileSync(join(tree, "a.txt"), "x".repeat(1500));
  writeFileSync(join(tree, "empty"), "");
  symlinkSync("a.txt", join(tree, "link"));
  linkSync(join(tree, "a.txt"), join(tree, "hard"));

  it.each(["gnu", "pax", "ustar", "oldgnu"])("reads what GNU tar writes as %s", async (format) => {
    const file = join(dir, `t-${format}.tar`);
    const names = ["a.txt", "empty", "link", "hard", long]; // 150 bytes: ustar splits it into prefix + name
    execFileSync("tar", [`--format=${format}`, "-cf", file, "-C", tree, ...names]);
    const got = await entries(await FileSource.open(file));
    expect(got.map((e) => e.name)).toEqual(names);
    expect(got[0]).toMatchObject({ type: "file", size: 1500, body: "x".repeat(1500) });
    expect(got[1]).toMatchObject({ type: "file", size: 0, body: "" });
    expect(got[2]).toMatchObject({ type: "symlink", linkname: "a.txt" });
    expect(got[3]).toMatchObject({ type: "hardlink", linkname: "a.txt" });
    expect(got[4]).toMatchObject({ type: "file", body: "long\n" });
  });

  it("skips bodies it is not asked for, from a file and from a gzip stream", async () => {
    const file = join(dir, "skip.tar");
    writeFileSync(file, tar([{ name: "big", body: Buffer.alloc(3 << 20, 1) }, { name: "small", body: "hi" }, { name: "d/", type: "dir" }]));
    expect((await entries(await FileSource.open(file), false)).map((e) => [e.name, e.size])).toEqual([["big", 3 << 20], ["small", 2], ["d/", 0]]);
    execFileSync("gzip", ["-kf", file]);
    const got = await entries(new StreamSource(createReadStream(`${file}.gz`).pipe(createGunzip())));
    expect(got.map((e) => e.name)).toEqual(["big", "small", "d/"]);
    expect(got[1]!.body).toBe("hi");
    expect(got[2]!.type).toBe("directory");
  });

  it("reads a byte range of a file as a tar (a layer inside an archive)", async () => {
    const inner = tar([{ name: "etc/hosts", body: "127.0.0.1 localhost\n" }]);
    const file = join(dir, "range.bin");
    writeFileSync(file, Buffer.concat([Buffer.alloc(1024, 7), inner, Buffer.alloc(512, 9)]));
    expect(await entries(await FileSource.open(file, 1024, inner.length))).toEqual([
      { name: "etc/hosts", type: "file", size: 20, linkname: "", body: "127.0.0.1 localhost\n" },
    ]);
  });

  it("refuses what is not a tar", async () => {
    const file = join(dir, "not.tar");
    writeFileSync(file, "just some text, not a tar archive at all\n".repeat(20));
    await expect(entries(await FileSource.open(file))).rejects.toBeInstanceOf(TarFormatError);
  });
});

describe("whiteouts", () => {
  it("normalizes tar names to absolute paths", () => {
    expect(["./etc/passwd", "etc/", "/usr//bin/", "./", "a/./b/../c"].map(normPath)).toEqual(["/etc/passwd", "/etc", "/usr/bin", "/", "/a/c"]);
  });

  it("applies .wh. files, opaque directories and replacements to lower layers only", () => {
    const wh = new Whiteouts();
    // Top layer: deletes /home/a/.npmrc, makes /opt/x opaque, replaces /etc/conf, puts a file where /var/d was a directory.
    expect(wh.add("/home/a/.wh..npmrc", false)).toBe(false);
    expect(wh.add("/opt/x/.wh..wh..opq", false)).toBe(false);
    expect(wh.add("/opt/x/new", false)).toBe(true);
    expect(wh.add("/etc/conf", false)).toBe(true);
    expect(wh.add("/var/d", false)).toBe(true);
    expect(wh.add("/usr", true)).toBe(true);
    // Same layer: whiteouts do not hide their own layer's files.
    expect(wh.shadowed("/home/a/.npmrc", false)).toBeUndefined();
    wh.commitLayer();
    // The layer below.
    expect(wh.shadowed("/home/a/.npmrc", false)).toBe("deleted");
    expect(wh.shadowed("/home/a/.bashrc", false)).toBeUndefined();
    expect(wh.shadowed("/opt/x/old", false)).toBe("deleted");
    expect(wh.shadowed("/opt/x/sub/deeper", false)).toBe("deleted");
    expect(wh.shadowed("/opt/x", true)).toBeUndefined();
    expect(wh.shadowed("/etc/conf", false)).toBe("replaced");
    expect(wh.shadowed("/var/d/inner", false)).toBe("replaced");
    expect(wh.shadowed("/usr", true)).toBeUndefined();
    expect(wh.shadowed("/usr/bin/tool", false)).toBeUndefined();
  });
});
