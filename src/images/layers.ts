// Image layers: whiteouts (files a newer layer deleted or replaced) and walking one layer.
import { posix } from "node:path";
import { readTar, TarFormatError, type ByteSource } from "./tar.js";
import { normPath, type ImageFile } from "./types.js";

/**
 * What the layers above the one being read have done, for reading layers top-down: a
 * lower file is in the final filesystem only if no upper layer deleted it (`.wh.name`),
 * made its directory opaque (`.wh..wh..opq`), or put something at its path (or a
 * non-directory at a parent's path). Whiteouts apply only to lower layers, so each
 * layer's effects are committed after the layer is read.
 */
export class Whiteouts {
  private deleted = new Set<string>();
  private opaque = new Set<string>();
  private upper = new Map<string, boolean>(); // path → is a directory
  private pending: { deleted: string[]; opaque: string[]; upper: [string, boolean][] } = { deleted: [], opaque: [], upper: [] };

  /** Records an entry of the current layer; returns false for whiteout markers (not files). */
  add(path: string, isDir: boolean): boolean {
    const base = posix.basename(path);
    if (base.startsWith(".wh.")) {
      const dir = posix.dirname(path);
      if (base === ".wh..wh..opq") this.pending.opaque.push(dir);
      else if (!base.startsWith(".wh..wh.")) this.pending.deleted.push(posix.join(dir, base.slice(4)));
      return false;
    }
    this.pending.upper.push([path, isDir]);
    return true;
  }

  /** Why a file of the current layer is not in the final filesystem, if it is not. */
  shadowed(path: string, isDir: boolean): "deleted" | "replaced" | undefined {
    if (this.deleted.has(path)) return "deleted";
    const u = this.upper.get(path);
    if (u !== undefined && !(u && isDir)) return "replaced";
    for (let a = posix.dirname(path); ; a = posix.dirname(a)) {
      if (this.deleted.has(a) || this.opaque.has(a)) return "deleted";
      if (this.upper.get(a) === false) return "replaced";
      if (a === "/") return undefined;
    }
  }

  commitLayer(): void {
    for (const p of this.pending.deleted) this.deleted.add(p);
    for (const p of this.pending.opaque) this.opaque.add(p);
    for (const [p, d] of this.pending.upper) if (!this.upper.has(p)) this.upper.set(p, d);
    this.pending = { deleted: [], opaque: [], upper: [] };
  }
}

/** Reads one layer (or a whole root filesystem tar) and visits its files. */
export async function walkLayer(
  src: ByteSource,
  wh: Whiteouts,
  layer: string | undefined,
  visit: (f: ImageFile) => Promise<void>,
  problem: (path: string, message: string) => void,
): Promise<void> {
  try {
    for await (const e of readTar(src)) {
      const path = normPath(e.name);
      if (path === "/") continue;
      const isDir = e.type === "directory";
      if (!wh.add(path, isDir)) continue;
      const shadowed = wh.shadowed(path, isDir);
      const f: ImageFile = {
        path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        linkname: e.type === "hardlink" ? normPath(e.linkname) : e.linkname,
        content: () => e.body(),
        ...(layer ? { layer } : {}),
        ...(shadowed ? { shadowed } : {}),
      };
      await visit(f);
    }
  } catch (err) {
    if (err instanceof TarFormatError) problem(layer ? `layer ${layer}` : "/", err.message);
    else throw err;
  } finally {
    wh.commitLayer();
  }
}
