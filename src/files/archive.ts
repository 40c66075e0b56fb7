import { createWriteStream, rmSync } from "node:fs";
import { posix } from "node:path";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { AGENT_GID, AGENT_UID } from "../sandboxes/types.js";
import { byteLimit } from "../util/limits.js";
import { BerthError, badRequest } from "../util/errors.js";
import { workspacePath } from "./paths.js";

// An uploaded archive (tar, or tar.gz by its magic bytes) is read entry by entry before any
// of it reaches a workspace. Refused, naming the entry: absolute names, "..", links whose
// target leaves the tree, devices, FIFOs and anything else that is not a file, directory or
// link; and archives over the size or entry limits. What passes is re-packed: owned by the
// agent's uid/gid, modes without setuid/setgid/sticky bits. Only then is it extracted,
// inside the sandbox's view (files/local.ts, files/container.ts).

export interface ArchiveLimits {
  /** Bytes of file content, uncompressed. */
  maxBytes: number;
  maxEntries: number;
  /** Throws to refuse an entry by its (normalised) name. */
  checkName?: (name: string) => void;
}

export interface NormalizedArchive {
  /** A temporary file holding the re-packed tar; the caller removes it. */
  file: string;
  entries: number;
  bytes: number;
}

const unsafe = (name: string, why: string) => badRequest("unsafe_archive", `archive entry ${JSON.stringify(name.slice(0, 300))} is refused: ${why}; nothing was written`);

/** A link target, resolved from the directory of the entry that holds it; undefined when it leaves the tree. */
function linkInside(entry: string, target: string): string | undefined {
  if (target.startsWith("/")) return undefined;
  const joined = posix.normalize(posix.join(posix.dirname(entry), target));
  if (joined === ".." || joined.startsWith("../")) return undefined;
  return joined === "." ? "" : joined;
}

/** The archive's content limit plus room for every entry's headers; past it, a 413. */
function tarBound(limits: ArchiveLimits): Transform {
  const max = limits.maxBytes + limits.maxEntries * 1536 + 1024 * 1024;
  return byteLimit(max, () => new BerthError(413, "upload_too_large", `the archive is larger than ${max} bytes as a tar (BERTH_MAX_UPLOAD_BYTES, with its headers)`));
}

/** The lexical form of an entry's name, or why it is refused. */
function entryName(raw: string): string {
  if (raw.startsWith("/")) throw unsafe(raw, "an absolute path");
  try {
    return workspacePath(raw.replace(/\/+$/, ""), "name");
  } catch (e) {
    throw unsafe(raw, (e as Error).message.replace(/^name /, "its name "));
  }
}

/** The first proper prefix of `path` (by whole segments) that is in `links`; undefined if none. */
function throughLink(path: string, links: Map<string, string>): string | undefined {
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    if (links.has(prefix)) return prefix;
  }
  return undefined;
}

/** The archive symlink a link's target passes through on its way (not where it lands), walked segment by segment. */
function targetThroughLink(name: string, target: string, links: Map<string, string>): string | undefined {
  const dir = posix.dirname(name);
  const cur = dir === "." ? [] : dir.split("/");
  const segs = target.split("/").filter((s) => s !== "" && s !== ".");
  for (let i = 0; i < segs.length; i++) {
    if (segs[i] === "..") cur.pop();
    else cur.push(segs[i]!);
    const p = cur.join("/");
    if (i < segs.length - 1 && links.has(p)) return p;
  }
  return undefined;
}

/**
 * Reads an uploaded tar or tar.gz, refuses it whole at the first unsafe entry, and writes
 * the re-packed archive to `out` (mode 0600). The upload is read once, as it streams in.
 */
export async function normalizeArchive(input: Readable, out: string, limits: ArchiveLimits): Promise<NormalizedArchive> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw badRequest("invalid_archive", "the archive is empty");
  const head = Buffer.from(first.value as Buffer);
  const rest = Readable.from(
    (async function* () {
      yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value as Buffer;
    })(),
  );
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const extract = tar.extract();
  // The tar stream itself (after gunzip) is bounded too: headers (a pax header is held in
  // memory whole) count against the limit, not only the files' content.
  const bound = tarBound(limits);
  const feeding = gzip ? pipeline(rest, createGunzip(), bound, extract) : pipeline(rest, bound, extract);
  const pack = tar.pack();
  const writing = pipeline(pack, createWriteStream(out, { mode: 0o600 }));
  // Symlinks and files seen so far: links are checked against the whole archive at the end.
  const links = new Map<string, string>();
  const seen = new Set<string>();
  let entries = 0;
  let bytes = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = entryName(h.name);
      if (name !== "") limits.checkName?.(name);
      if (++entries > limits.maxEntries) throw new BerthError(413, "upload_too_large", `the archive has more than ${limits.maxEntries} entries (BERTH_MAX_UPLOAD_ENTRIES)`);
      const common = { name, mode: (h.mode ?? 0o644) & 0o777, mtime: h.mtime, uid: AGENT_UID, gid: AGENT_GID, uname: "agent", gname: "agent" };
      if (name === "") {
        entry.resume();
        continue;
      }
      switch (h.type) {
        case "file":
        case "contiguous-file": {
          bytes += h.size ?? 0;
          if (bytes > limits.maxBytes) throw new BerthError(413, "upload_too_large", `the archive holds more than ${limits.maxBytes} bytes of files (BERTH_MAX_UPLOAD_BYTES)`);
          const w = pack.entry({ ...common, type: "file", size: h.size ?? 0 });
          await pipeline(entry, w);
          seen.add(name);
          continue;
        }
        case "directory":
          pack.entry({ ...common, type: "directory", mode: ((h.mode ?? 0o755) & 0o777) | 0o700 });
          break;
        case "symlink": {
          const target = h.linkname ?? "";
          if (!target || target.includes("\0")) throw unsafe(h.name, "a link with no target");
          if (linkInside(name, target) === undefined) throw unsafe(h.name, `a symlink whose target ${JSON.stringify(target)} leaves the archive's tree`);
          links.set(name, target);
          pack.entry({ ...common, type: "symlink", linkname: target, mode: 0o777 });
          break;
        }
        case "link": {
          const target = entryName(h.linkname ?? "");
          if (!seen.has(target)) throw unsafe(h.name, `a hard link to ${JSON.stringify(h.linkname)}, which is not a file earlier in the archive`);
          pack.entry({ ...common, type: "link", linkname: target });
          break;
        }
        default:
          throw unsafe(h.name, `a ${h.type ?? "special"} entry (only files, directories and links are accepted)`);
      }
      entry.resume();
    }
    await feeding;
    // No entry may be written through a link of the archive, nor a link resolve through another.
    for (const name of [...seen, ...links.keys()]) {
      const via = throughLink(name, links);
      if (via) throw unsafe(name, `it would be written through the archive's symlink ${JSON.stringify(via)}`);
    }
    for (const [name, target] of links) {
      const via = targetThroughLink(name, target, links);
      if (via) throw unsafe(name, `its target resolves through the archive's symlink ${JSON.stringify(via)}`);
    }
    pack.finalize();
    await writing;
    return { file: out, entries, bytes };
  } catch (e) {
    extract.destroy();
    pack.destroy();
    await Promise.allSettled([feeding, writing]);
    rmSync(out, { force: true });
    if (e instanceof BerthError) throw e;
    throw badRequest("invalid_archive", `the upload is not a readable tar or tar.gz archive: ${(e as Error).message}`);
  }
}
