// A small streaming tar reader: ustar, GNU (long names, base-256 sizes) and PAX headers,
// which is what `docker save`, `podman save`, image layers and GNU/BSD tar write. It reads
// from a file by position (skipping a body costs nothing) or from a stream (a gunzipped
// layer), and never extracts anything to disk.

import { open, type FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";

export type TarEntryType = "file" | "hardlink" | "symlink" | "directory" | "other";

export interface TarHeader {
  /** As stored: no leading "./" or "/" removed. */
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
}

/** Where bytes come from: exactly `n` bytes unless the input ends. */
export interface ByteSource {
  read(n: number): Promise<Buffer>;
  skip(n: number): Promise<void>;
  /** Bytes consumed so far. */
  readonly position: number;
  close(): Promise<void>;
}

export class TarFormatError extends Error {}

/** A file (or a byte range of one, e.g. a layer inside a `docker save` tar) read by position. */
export class FileSource implements ByteSource {
  position = 0;
  private constructor(
    private fh: FileHandle,
    private start: number,
    private end: number,
  ) {}

  static async open(path: string, start = 0, length?: number): Promise<FileSource> {
    const fh = await open(path, "r");
    const size = (await fh.stat()).size;
    return new FileSource(fh, start, length === undefined ? size : Math.min(size, start + length));
  }

  async read(n: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(n, this.end - this.start - this.position));
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, this.start + this.position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.position += got;
    return got === want ? buf : buf.subarray(0, got);
  }

  async skip(n: number): Promise<void> {
    this.position = Math.min(this.position + n, this.end - this.start);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** A readable stream (e.g. gunzip output), consumed in order. */
export class StreamSource implements ByteSource {
  position = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private iter: AsyncIterator<Buffer>;
  private done = false;

  constructor(private stream: Readable) {
    this.iter = stream[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.done) {
      const r = await this.iter.next();
      if (r.done) this.done = true;
      else {
        const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        this.chunks.push(b);
        this.buffered += b.length;
      }
    }
  }

  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.buffered);
    let out: Buffer;
    const first = this.chunks[0];
    if (first && first.length >= take) {
      out = first.subarray(0, take);
      if (first.length === take) this.chunks.shift();
      else this.chunks[0] = first.subarray(take);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, take);
      this.chunks = all.length > take ? [all.subarray(take)] : [];
    }
    this.buffered -= take;
    this.position += take;
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (!this.buffered) await this.fill(1);
      if (!this.buffered) return;
      const b = await this.read(Math.min(n, this.chunks[0]!.length));
      n -= b.length;
    }
  }

  async close(): Promise<void> {
    this.stream.destroy();
  }
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString("utf8");
}

function num(b: Buffer, start: number, len: number): number {
  // GNU base-256: high bit of the first byte set.
  if (b[start]! & 0x80) {
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const s = cstr(b, start, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === num(h, 148, 8);
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.subarray(i, sp).toString("ascii"), 10);
    if (!len || len <= 0) break;
    const rec = body.subarray(sp + 1, i + len - 1).toString("utf8"); // without the trailing \n
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = { "0": "file", "": "file", "7": "file", S: "file", "1": "hardlink", "2": "symlink", "5": "directory", D: "directory" };

export interface TarEntry extends TarHeader {
  /** Offset of the entry's data within the source (for a later ranged read). */
  dataOffset: number;
  /** The body in chunks of at most `chunk` bytes; read it at most once, before the next entry. */
  body(chunk?: number): AsyncIterable<Buffer>;
  /** The whole body (callers check `size` first). */
  readAll(): Promise<Buffer>;
}

/**
 * The entries of a tar, in order. A body not read by the consumer is skipped. Throws
 * TarFormatError when the input is not a tar (bad first header).
 */
export async function* readTar(src: ByteSource): AsyncGenerator<TarEntry> {
  let pax: Record<string, string> = {};
  const globalPax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let first = true;
  for (;;) {
    const h = await src.read(512);
    if (h.length < 512) {
      if (first) throw new TarFormatError("not a tar archive (too short)");
      return;
    }
    if (h.every((x) => x === 0)) return;
    if (!checksumOk(h)) {
      if (first) throw new TarFormatError("not a tar archive (bad header checksum)");
      throw new TarFormatError(`damaged tar archive: bad header checksum at byte ${src.position - 512}`);
    }
    first = false;
    const flag = String.fromCharCode(h[156]!).replace("\0", "");
    const size = num(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      const body = (await src.read(padded)).subarray(0, size);
      if (flag === "x") pax = { ...pax, ...parsePax(body) };
      else if (flag === "g") Object.assign(globalPax, parsePax(body));
      else if (flag === "L") longName = cstr(body, 0, body.length);
      else longLink = cstr(body, 0, body.length);
      continue;
    }
    const ustar = h.subarray(257, 263).toString("latin1") === "ustar\0";
    const prefix = ustar ? cstr(h, 345, 155) : "";
    const p = { ...globalPax, ...pax };
    const name = p.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    const header: TarHeader = {
      name,
      // Pre-POSIX tars mark directories only by a trailing slash.
      type: (flag === "0" || flag === "") && name.endsWith("/") ? "directory" : (TYPES[flag] ?? "other"),
      mode: num(h, 100, 8) & 0o7777,
      uid: p.uid !== undefined ? Number(p.uid) : num(h, 108, 8),
      gid: p.gid !== undefined ? Number(p.gid) : num(h, 116, 8),
      size: p.size !== undefined ? Number(p.size) : size,
      linkname: p.linkpath ?? longLink ?? cstr(h, 157, 100),
    };
    pax = {};
    longName = longLink = undefined;
    const dataSize = header.size;
    const dataPadded = Math.ceil(dataSize / 512) * 512;
    const dataOffset = src.position;
    let consumed = 0;
    let started = false;
    const body = async function* (chunk = 1 << 20): AsyncIterable<Buffer> {
      if (started) throw new Error(`tar entry ${name}: body read twice`);
      started = true;
      while (consumed < dataSize) {
        const b = await src.read(Math.min(chunk, dataSize - consumed));
        if (!b.length) throw new TarFormatError(`truncated tar archive in ${name}`);
        consumed += b.length;
        yield b;
      }
    };
    const entry: TarEntry = {
      ...header,
      dataOffset,
      body,
      async readAll() {
        const parts: Buffer[] = [];
        for await (const b of body(dataSize || 1)) parts.push(b);
        return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      },
    };
    yield entry;
    await src.skip(dataPadded - consumed);
  }
}
