// Tar files as image inputs: a root filesystem tar, or a docker-archive / OCI-layout image
// archive whose layers are read in order.
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import * as zlib from "node:zlib";
import { FileSource, readTar, StreamSource, TarFormatError, type ByteSource, type TarEntryType } from "./tar.js";
import { ImageInputError, normPath, type ImageConfig, type ImageInput, type InputKind } from "./types.js";
import { CHUNK } from "./directory-input.js";
import { walkLayer, Whiteouts } from "./layers.js";

interface Member {
  name: string;
  offset: number;
  size: number;
  type: TarEntryType;
  linkname: string;
}

export async function magic(file: string, start = 0): Promise<"gzip" | "zstd" | "plain"> {
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

export async function tarInput(file: string, describe: string, kind: InputKind, cleanup: () => void): Promise<ImageInput> {
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
