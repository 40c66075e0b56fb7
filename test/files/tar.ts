import type { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";

/** An entry to pack: a header (name at least) and its content. */
export type TarEntry = Partial<tar.Header> & { name: string; body?: string | Buffer };

/** A tar (or tar.gz) of `entries`, in memory, for tests. */
export async function tarOf(entries: TarEntry[], gzip = false): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on("end", () => r()));
  for (const { body, ...h } of entries) pack.entry(h, body ?? "");
  pack.finalize();
  await done;
  const raw = Buffer.concat(chunks);
  return gzip ? gzipSync(raw) : raw;
}

/** Every entry of a tar stream, in order: its header and its content. */
export async function readTar(input: Readable): Promise<{ header: tar.Header; body: Buffer }[]> {
  const ex = tar.extract();
  input.pipe(ex);
  const out: { header: tar.Header; body: Buffer }[] = [];
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e as unknown as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ header: e.header, body: Buffer.concat(chunks) });
  }
  return out;
}
