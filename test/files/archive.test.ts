import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { normalizeArchive } from "../../src/files/archive.js";
import { BerthError } from "../../src/util/errors.js";
import { readTar, tarOf, type TarEntry } from "./tar.js";

const limits = { maxBytes: 1024 * 1024, maxEntries: 100 };
const dir = mkdtempSync(join(tmpdir(), "berth-archive-test-"));
let n = 0;
const run = (buf: Buffer, l: Partial<typeof limits> & { checkName?: (n: string) => void } = {}) => normalizeArchive(Readable.from([buf]), join(dir, `out-${++n}.tar`), { ...limits, ...l });

describe("normalizeArchive", () => {
  it("re-packs files, directories and in-tree links as the agent's, without setuid bits, from tar or tar.gz", async () => {
    const raw = await tarOf([
      { name: "src/", type: "directory", mode: 0o755 },
      { name: "src/main.ts", body: "console.log(1)\n", mode: 0o4755, uid: 0, gid: 0 },
      { name: "./README.md", body: "hi\n", mode: 0o644 },
      { name: "src/link", type: "symlink", linkname: "main.ts" },
      { name: "node_modules/.bin/tool", type: "symlink", linkname: "../tool/cli.js" },
      { name: "node_modules/tool/cli.js", body: "x" },
      { name: "copy", type: "link", linkname: "README.md" },
    ]);
    for (const input of [raw, gzipSync(raw)]) {
      const a = await run(input);
      expect(a.entries).toBe(7);
      expect(a.bytes).toBe("console.log(1)\n".length + 3 + 1);
      const hs = (await readTar(Readable.from([readFileSync(a.file)]))).map((e) => e.header);
      expect(hs.map((h) => h.name)).toEqual(["src", "src/main.ts", "README.md", "src/link", "node_modules/.bin/tool", "node_modules/tool/cli.js", "copy"]);
      for (const h of hs) expect([h.uid, h.gid]).toEqual([1000, 1000]);
      expect(hs[1]!.mode).toBe(0o755);
    }
  });

  const refusals: [string, TarEntry[], RegExp][] = [
    ["a ../ entry", [{ name: "../evil", body: "x" }], /no \.\./],
    ["a nested ../ entry", [{ name: "a/../../evil", body: "x" }], /no \.\./],
    ["an absolute name", [{ name: "/etc/cron.d/evil", body: "x" }], /absolute path/],
    ["a symlink to /etc", [{ name: "etc", type: "symlink", linkname: "/etc" }], /leaves the archive's tree/],
    ["a symlink out by ..", [{ name: "a/up", type: "symlink", linkname: "../../x" }], /leaves the archive's tree/],
    [
      "a symlink that escapes through another link",
      [
        { name: "z", type: "symlink", linkname: "." },
        { name: "y", type: "symlink", linkname: "z/.." },
      ],
      /resolves through the archive's symlink "z"/,
    ],
    [
      "a file written through a link of the archive",
      [
        { name: "sub/", type: "directory" },
        { name: "lnk", type: "symlink", linkname: "sub" },
        { name: "lnk/f", body: "x" },
      ],
      /written through the archive's symlink "lnk"/,
    ],
    ["a character device", [{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }], /character-device entry/],
    ["a FIFO", [{ name: "pipe", type: "fifo" }], /fifo entry/],
    ["a hard link to a file not in the archive", [{ name: "pw", type: "link", linkname: "etc/passwd" }], /not a file earlier in the archive/],
  ];
  for (const [what, entries, why] of refusals)
    it(`refuses ${what}, whole, and leaves no output`, async () => {
      const before = n + 1;
      await expect(run(await tarOf([{ name: "ok.txt", body: "fine" }, ...entries]))).rejects.toMatchObject({ status: 400, code: "unsafe_archive", message: expect.stringMatching(why) });
      expect(existsSync(join(dir, `out-${before}.tar`))).toBe(false);
    });

  it("stops at the entry and byte limits, a gzip bomb included (413)", async () => {
    const many = await tarOf(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, body: "x" })));
    await expect(run(many, { maxEntries: 4 })).rejects.toMatchObject({ status: 413, code: "upload_too_large" });
    const bomb = gzipSync(await tarOf([{ name: "zeros", body: Buffer.alloc(4 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(run(bomb)).rejects.toMatchObject({ status: 413, code: "upload_too_large" });
  });

  it("bounds the tar stream itself, so a huge header (held in memory) is a 413 too", async () => {
    // A pax header of 3 MiB, gzipped to a few KB: no file content at all.
    const huge = await tarOf([{ name: "x", body: "y", pax: { comment: "z".repeat(3 * 1024 * 1024) } }]);
    await expect(run(gzipSync(huge), { maxBytes: 1024, maxEntries: 10 })).rejects.toMatchObject({ status: 413, code: "upload_too_large" });
  });

  it("says what is wrong with something that is not an archive", async () => {
    await expect(run(Buffer.from("this is not a tar file, just text that goes on for a while ".repeat(20)))).rejects.toMatchObject({ status: 400, code: "invalid_archive" });
    await expect(normalizeArchive(Readable.from([]), join(dir, "empty.tar"), limits)).rejects.toMatchObject({ code: "invalid_archive" });
    await expect(run(gzipSync(Buffer.from("not a tar inside")))).rejects.toMatchObject({ code: "invalid_archive" });
  });

  it("lets the caller refuse names (protected paths)", async () => {
    const raw = await tarOf([{ name: ".git/hooks/pre-commit", body: "#!/bin/sh\n" }]);
    await expect(
      run(raw, {
        checkName: (name) => {
          if (name.startsWith(".git/hooks")) throw new BerthError(403, "protected_path", "protected");
        },
      }),
    ).rejects.toMatchObject({ code: "protected_path" });
  });
});
