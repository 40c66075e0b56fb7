// What `berth image check` reads: a root filesystem directory, a root filesystem tar, a
// `docker save`/`podman save` archive (docker-archive manifest.json, or an OCI layout),
// or an image by name (saved to a temporary archive through the engine API socket or the
// podman/docker CLI). Every input becomes the same walk over files, each file knowing
// whether a newer layer deleted or replaced it (whiteouts applied), with its content
// streamed on demand.

import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync } from "node:fs";
import { constants } from "node:fs";
import { access, lstat, open, readdir, readlink, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import * as zlib from "node:zlib";
import { engineClient } from "../sandboxes/engine.js";
import { FileSource, readTar, StreamSource, TarFormatError, type ByteSource, type TarEntryType, type TarHeader } from "./tar.js";


/** A file as a tar header describes it, under its absolute path. */
export interface ImageFile extends Omit<TarHeader, "name"> {
  /** Absolute path inside the image: "/etc/passwd". */
  path: string;
  /** Layer label ("3/7 sha256:0123456789ab") for image archives. */
  layer?: string;
  /** Set when the file is not in the final filesystem: a newer layer deleted or replaced it. */
  shadowed?: "deleted" | "replaced";
  /** The content in chunks (at most once; regular files only). */
  content(): AsyncIterable<Buffer>;
}

/** The parts of an OCI/Docker image config berth checks. */
export interface ImageConfig {
  config?: {
    User?: string;
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
  };
  history?: { created_by?: string; comment?: string; empty_layer?: boolean }[];
}

export type InputKind = "directory" | "rootfs-tar" | "image-archive" | "image";

export interface ImageInput {
  kind: InputKind;
  /** What was read, for the report. */
  describe: string;
  config?: ImageConfig;
  layers: number;
  /** Notes about the input itself (e.g. several images in one archive). */
  notes: string[];
  /** Visits every file; `visit` may read the content. Problems reading parts go to `problem`. */
  walk(visit: (f: ImageFile) => Promise<void>, problem: (path: string, message: string) => void): Promise<void>;
  close(): Promise<void>;
}

export class ImageInputError extends Error {}

/** "./usr/bin/", "usr/bin", "/usr//bin" → "/usr/bin". */
export function normPath(name: string): string {
  const p = posix.normalize("/" + name.replace(/^(?:\.\/)+/, ""));
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

// --- directory --------------------------------------------------------------------------

const CHUNK = 1 << 20;
/** Pseudo filesystems skipped when the directory is a live root ("/"). */
const LIVE_ROOT_SKIP = new Set(["/proc", "/sys", "/dev", "/run"]);

async function* fileChunks(file: string, size: number): AsyncIterable<Buffer> {
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

function directoryInput(root: string): ImageInput {
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

// --- layers and whiteouts ----------------------------------------------------------------

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
async function walkLayer(
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

// --- tar files and image archives --------------------------------------------------------

interface Member {
  name: string;
  offset: number;
  size: number;
  type: TarEntryType;
  linkname: string;
}

async function magic(file: string, start = 0): Promise<"gzip" | "zstd" | "plain"> {
  const fh = await open(file, "r");
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, start);
    if (b[0] === 0x1f && b[1] === 0x8b) return "gzip";
    if (b.readUInt32LE(0) === 0xfd2fb528) return "zstd";
    return "plain";
  } finally {
    await fh.close();
  }
}

/** Members of a tar by normalized name (without the leading slash), reading headers only. */
async function indexTar(file: string): Promise<Map<string, Member>> {
  const src = await FileSource.open(file);
  const out = new Map<string, Member>();
  try {
    for await (const e of readTar(src)) {
      const name = normPath(e.name).slice(1);
      out.set(name, { name, offset: e.dataOffset, size: e.size, type: e.type, linkname: e.linkname });
    }
  } finally {
    await src.close();
  }
  return out;
}

function member(index: Map<string, Member>, name: string, depth = 0): Member | undefined {
  const m = index.get(normPath(name).slice(1));
  if (m && (m.type === "symlink" || m.type === "hardlink") && depth < 8) {
    const target = m.type === "symlink" ? posix.join(posix.dirname("/" + m.name), m.linkname) : m.linkname;
    return member(index, target, depth + 1);
  }
  return m;
}

async function readMember(file: string, m: Member): Promise<Buffer> {
  const src = await FileSource.open(file, m.offset, m.size);
  try {
    return await src.read(m.size);
  } finally {
    await src.close();
  }
}

async function readJson<T>(file: string, index: Map<string, Member>, name: string): Promise<T> {
  const m = member(index, name);
  if (!m) throw new ImageInputError(`the archive names ${name}, which it does not contain`);
  return JSON.parse((await readMember(file, m)).toString("utf8")) as T;
}

/** A byte source over a layer: plain, gzip or (where this Node has it) zstd. */
async function layerSource(file: string, m: Member): Promise<ByteSource> {
  const kind = m.size >= 4 ? await magic(file, m.offset) : "plain";
  if (kind === "plain") return FileSource.open(file, m.offset, m.size);
  const raw = createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: CHUNK });
  const z = zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream };
  if (kind === "zstd" && !z.createZstdDecompress) throw new ImageInputError("zstd-compressed layer, which this Node cannot decompress");
  const dec = kind === "gzip" ? zlib.createGunzip({ chunkSize: CHUNK }) : z.createZstdDecompress!();
  raw.on("error", (e) => (dec as unknown as { destroy(e: Error): void }).destroy(e));
  return new StreamSource(raw.pipe(dec) as unknown as Readable);
}

interface LayerRef {
  name: string;
  label: string;
}

type OciDescriptor = { mediaType?: string; digest: string; platform?: { os?: string; architecture?: string } };

const blob = (digest: string) => `blobs/${digest.replace(":", "/")}`;

/** Config and layers of the first image in an OCI layout (index.json → manifest). */
async function ociImage(file: string, index: Map<string, Member>, notes: string[]): Promise<{ config: string; layers: string[] }> {
  let desc = (await readJson<{ manifests?: OciDescriptor[] }>(file, index, "index.json")).manifests ?? [];
  for (let depth = 0; depth < 4; depth++) {
    if (!desc.length) throw new ImageInputError("the OCI layout's index lists no image");
    const arch = process.arch === "x64" ? "amd64" : process.arch;
    const pick = desc.find((d) => d.platform?.os === "linux" && d.platform.architecture === arch) ?? desc[0]!;
    if (desc.length > 1) notes.push(`the archive holds ${desc.length} manifests; checked ${pick.digest.slice(0, 19)}`);
    const doc = await readJson<{ mediaType?: string; manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] }>(file, index, blob(pick.digest));
    if (doc.manifests) {
      desc = doc.manifests;
      continue;
    }
    if (!doc.config) throw new ImageInputError(`manifest ${pick.digest} has no config`);
    return { config: blob(doc.config.digest), layers: (doc.layers ?? []).map((l) => blob(l.digest)) };
  }
  throw new ImageInputError("the OCI layout's indexes nest too deep");
}

function shortName(name: string): string {
  const m = /(?:sha256[/:])?([0-9a-f]{12})[0-9a-f]{52}/.exec(name);
  return m ? `sha256:${m[1]}` : name;
}

async function tarInput(file: string, describe: string, kind: InputKind, cleanup: () => void): Promise<ImageInput> {
  let index: Map<string, Member>;
  try {
    index = await indexTar(file);
  } catch (e) {
    cleanup();
    if (e instanceof TarFormatError) throw new ImageInputError(`${describe}: ${e.message}`);
    throw e;
  }
  const notes: string[] = [];
  let configName: string | undefined;
  let layerNames: string[] | undefined;
  try {
    if (index.has("manifest.json")) {
      const manifest = await readJson<{ Config: string; Layers: string[]; RepoTags?: string[] | null }[]>(file, index, "manifest.json");
      const first = manifest[0];
      if (!first) throw new ImageInputError(`${describe}: manifest.json lists no image`);
      if (manifest.length > 1) notes.push(`the archive holds ${manifest.length} images; checked the first (${first.RepoTags?.[0] ?? first.Config})`);
      configName = first.Config;
      layerNames = first.Layers;
    } else if (index.has("index.json") && index.has("oci-layout")) {
      const img = await ociImage(file, index, notes);
      configName = img.config;
      layerNames = img.layers;
    }
  } catch (e) {
    cleanup();
    throw e instanceof ImageInputError ? e : new ImageInputError(`${describe}: ${(e as Error).message}`);
  }
  if (!layerNames) {
    // A root filesystem tar: one layer, no config.
    return {
      kind: kind === "image" ? "image" : "rootfs-tar",
      describe: kind === "image" ? describe : `root filesystem ${describe}`,
      layers: 1,
      notes,
      async walk(visit, problem) {
        const src = await FileSource.open(file);
        try {
          await walkLayer(src, new Whiteouts(), undefined, visit, problem);
        } finally {
          await src.close();
        }
      },
      async close() {
        cleanup();
      },
    };
  }
  const config = configName ? await readJson<ImageConfig>(file, index, configName).catch(() => undefined) : undefined;
  if (configName && !config) notes.push(`could not read the image config ${configName}`);
  const layers: LayerRef[] = layerNames.map((n, i) => ({ name: n, label: `${i + 1}/${layerNames.length} ${shortName(n)}` }));
  return {
    kind: kind === "image" ? "image" : "image-archive",
    describe: kind === "image" ? describe : `image archive ${describe}`,
    config,
    layers: layers.length,
    notes,
    async walk(visit, problem) {
      const wh = new Whiteouts();
      // Top layer first, so a file's fate (deleted or replaced later) is known when it is read.
      for (const l of [...layers].reverse()) {
        const m = member(index, l.name);
        if (!m) {
          problem(`layer ${l.label}`, `the manifest names ${l.name}, which the archive does not contain`);
          continue;
        }
        let src: ByteSource;
        try {
          src = await layerSource(file, m);
        } catch (e) {
          problem(`layer ${l.label}`, (e as Error).message);
          continue;
        }
        try {
          await walkLayer(src, wh, l.label, visit, problem);
        } finally {
          await src.close();
        }
      }
    },
    async close() {
      cleanup();
    },
  };
}

// --- images by name ----------------------------------------------------------------------

/** The path of an executable on PATH (or given with a slash), if there is one. */
export async function which(cmd: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const candidates = cmd.includes("/") ? [cmd] : (env.PATH ?? "").split(":").filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await stat(c)).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Saves an image to `out` (a docker-archive tar); returns how: through the engine the
 * operator named (BERTH_DOCKER_HOST/DOCKER_HOST), else the podman or docker CLI on PATH.
 */
export async function saveImage(image: string, out: string, opts: { engine?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const env = opts.env ?? process.env;
  if (opts.engine) {
    const engine = opts.engine;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await (await engineClient(engine)).getImage(image).get();
    } catch (e) {
      const err = e as { statusCode?: number; json?: { message?: string }; message?: string };
      if (err.statusCode) throw new ImageInputError(`the engine at ${engine} cannot export ${image}: ${err.statusCode} ${err.json?.message ?? err.message ?? ""}`.trim());
      throw new ImageInputError(`cannot reach the engine at ${engine}: ${err.message}`);
    }
    await pipeline(stream, createWriteStream(out));
    return `engine API at ${engine}`;
  }
  for (const name of ["podman", "docker"]) {
    const cli = await which(name, env);
    if (!cli) continue;
    const args = name === "podman" ? ["save", "--format", "docker-archive", "-o", out, image] : ["save", "-o", out, image];
    await new Promise<void>((resolve, reject) => {
      const p = spawn(cli, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("error", reject);
      p.on("exit", (code) => (code === 0 ? resolve() : reject(new ImageInputError(`${name} save ${image} failed: ${err.trim().split("\n").pop()}`))));
    });
    return `${name} save`;
  }
  throw new ImageInputError(`'${image}' is not a file or directory, and there is no engine to export it from (set BERTH_DOCKER_HOST or DOCKER_HOST to unix:///path/to/socket, or install podman or docker)`);
}

/**
 * Opens what `berth image check` was given: an existing directory or file by path, else
 * an image name. A gzip-compressed tar is decompressed to a temporary file first (archives
 * are read twice: headers, then layers in order).
 */
export async function openInput(target: string, opts: { env?: NodeJS.ProcessEnv; engine?: string; onProgress?: (m: string) => void } = {}): Promise<ImageInput> {
  if (existsSync(target)) {
    const st = await lstat(target);
    if (st.isDirectory()) return directoryInput(target);
    if (!st.isFile()) throw new ImageInputError(`${target} is neither a directory nor a file`);
    if ((await magic(target)) === "gzip") {
      const tmp = mkdtempSync(join(tmpdir(), "berth-image-"));
      const out = join(tmp, "input.tar");
      await pipeline(createReadStream(target), zlib.createGunzip(), createWriteStream(out));
      return tarInput(out, `tar ${target} (gzip)`, "rootfs-tar", () => rmSync(tmp, { recursive: true, force: true }));
    }
    return tarInput(target, `tar ${target}`, "rootfs-tar", () => {});
  }
  if (/^[./~]/.test(target) || target.includes("//")) throw new ImageInputError(`${target}: no such file or directory`);
  const tmp = mkdtempSync(join(tmpdir(), "berth-image-"));
  const out = join(tmp, "image.tar");
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  try {
    opts.onProgress?.(`exporting ${target} ...`);
    const how = await saveImage(target, out, { ...(opts.env ? { env: opts.env } : {}), ...(opts.engine ? { engine: opts.engine } : {}) });
    return await tarInput(out, `image ${target} (via ${how})`, "image", cleanup);
  } catch (e) {
    cleanup();
    throw e;
  }
}
