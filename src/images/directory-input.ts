// A root filesystem directory as an image input (a live root's /proc, /sys, /dev, /run skipped).
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { type TarEntryType } from "./tar.js";
import { type ImageInput } from "./types.js";

export const CHUNK = 1 << 20;
/** Pseudo filesystems skipped when the directory is a live root ("/"). */
const LIVE_ROOT_SKIP = new Set(["/proc", "/sys", "/dev", "/run"]);

export async function* fileChunks(file: string, size: number): AsyncIterable<Buffer> {
  const fh = await open(file, "r");
  try {
    // As of its lstat: bytes appended since are not read.
    for (let left = size; left > 0; ) {
      const want = Math.min(CHUNK, left);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, null);
      if (!bytesRead) return;
      left -= bytesRead;
      yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

export function directoryInput(root: string): ImageInput {
  return {
    kind: "directory",
    describe: `directory ${root}`,
    layers: 0,
    notes: [],
    async walk(visit, problem) {
      // Breadth-first, one level at a time, a few files in flight.
      let dirs = ["/"];
      while (dirs.length) {
        const paths: string[] = [];
        for (const rel of dirs) {
          try {
            for (const n of (await readdir(join(root, rel))).sort()) {
              const p = rel === "/" ? `/${n}` : `${rel}/${n}`;
              if (!(root === "/" && LIVE_ROOT_SKIP.has(p))) paths.push(p);
            }
          } catch (e) {
            problem(rel, `cannot list: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          }
        }
        dirs = [];
        let next = 0;
        const worker = async () => {
          while (next < paths.length) {
            const p = paths[next++]!;
            const abs = join(root, p);
            try {
              const st = await lstat(abs);
              const type: TarEntryType = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
              if (type === "directory") dirs.push(p);
              const linkname = type === "symlink" ? await readlink(abs) : "";
              await visit({ path: p, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, linkname, content: () => fileChunks(abs, st.size) });
            } catch (e) {
              problem(p, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
            }
          }
        };
        await Promise.all(Array.from({ length: 16 }, worker));
        dirs.sort();
      }
    },
    async close() {},
  };
}
