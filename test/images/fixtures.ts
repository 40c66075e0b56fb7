// Test fixtures built at run time: tars (a minimal ustar writer, with PAX headers for long
// names), image archives in `docker save` and OCI layout form, and credential-shaped
// strings assembled from pieces so this repository never holds one whole.

import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";

export interface TarItem {
  name: string;
  type?: "file" | "dir" | "symlink" | "hardlink";
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  linkname?: string;
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, "0") + "\0";
}

function header(name: string, flag: string, size: number, mode: number, uid: number, linkname = ""): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, "utf8");
  h.write(octal(mode, 8), 100);
  h.write(octal(uid, 8), 108);
  h.write(octal(uid, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write("        ", 148);
  h.write(flag, 156);
  h.write(linkname.slice(0, 100), 157);
  h.write("ustar\0", 257, "latin1");
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148);
  return h;
}

function pad(b: Buffer): Buffer {
  const r = b.length % 512;
  return r ? Buffer.concat([b, Buffer.alloc(512 - r)]) : b;
}

/** A tar of the items; names longer than 100 bytes get a PAX `path` record. */
export function tar(items: TarItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const type = it.type ?? "file";
    const body = type === "file" ? Buffer.from(it.body ?? "") : Buffer.alloc(0);
    if (Buffer.byteLength(it.name) > 100) {
      const rec = (k: string, v: string) => {
        const s = ` ${k}=${v}\n`;
        let n = s.length + 1;
        while (String(n).length + s.length !== n) n = String(n).length + s.length;
        return `${n}${s}`;
      };
      const pax = Buffer.from(rec("path", it.name));
      parts.push(header("PaxHeader", "x", pax.length, 0o644, 0), pad(pax));
    }
    const flag = { file: "0", dir: "5", symlink: "2", hardlink: "1" }[type];
    parts.push(header(it.name, flag, body.length, it.mode ?? (type === "dir" ? 0o755 : 0o644), it.uid ?? 0, it.linkname));
    if (body.length) parts.push(pad(body));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface FakeImage {
  config: Record<string, unknown>;
  layers: TarItem[][];
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A `docker save` / `podman save` (docker-archive) tar: manifest.json, config, one tar per layer. */
export function dockerArchive(img: FakeImage): Buffer {
  const config = Buffer.from(JSON.stringify(img.config));
  const cfgName = `${sha(config)}.json`;
  const layers = img.layers.map((l) => tar(l));
  const layerNames = layers.map((l) => `${sha(l)}/layer.tar`);
  const manifest = [{ Config: cfgName, RepoTags: ["localhost/fixture:latest"], Layers: layerNames }];
  // Layers before the manifest, as docker writes them: the reader must not depend on order.
  return tar([
    ...layers.flatMap((l, i) => [
      { name: `${layerNames[i]!.split("/")[0]}/`, type: "dir" as const },
      { name: layerNames[i]!, body: l },
    ]),
    { name: cfgName, body: config },
    { name: "manifest.json", body: JSON.stringify(manifest) },
  ]);
}

/** An OCI image layout tar (podman save --format oci-archive): gzip layers, index → manifest → config. */
export function ociArchive(img: FakeImage): Buffer {
  const blobs: TarItem[] = [];
  const put = (b: Buffer) => {
    const d = sha(b);
    blobs.push({ name: `blobs/sha256/${d}`, body: b });
    return `sha256:${d}`;
  };
  const layers = img.layers.map((l) => gzipSync(tar(l)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: put(Buffer.from(JSON.stringify(img.config))) },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: put(l) })),
    }),
  );
  const index = { schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: put(manifest) }] };
  return tar([{ name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' }, { name: "index.json", body: JSON.stringify(index) }, ...blobs]);
}

// --- credential-shaped strings, assembled at run time ------------------------------------

const ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** Random characters (no long runs, no sequences: what a real token looks like). */
export function randomToken(n: number, alphabet = ALNUM): string {
  const bytes = randomBytes(n);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  // A digit and both cases, whatever the draw.
  return s.slice(0, -3) + "7aQ";
}

export const fake = {
  anthropic: () => ["sk", "ant", "api03", randomToken(95)].join("-"),
  openai: () => ["sk", "proj", randomToken(64)].join("-"),
  github: () => ["gh", "p_", randomToken(36)].join(""),
  aws: () => ["AK", "IA", randomToken(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").slice(0, 13), "7QZ"].join(""),
  npm: () => ["np", "m_", randomToken(36)].join(""),
  pem: (escaped = false) => {
    const nl = escaped ? "\\n" : "\n";
    const body = Array.from({ length: 6 }, () => randomToken(64, ALNUM + "+/")).join(nl);
    return ["-----BEGIN ", "PRIVATE KEY-----", nl, body, nl, "-----END ", "PRIVATE KEY-----"].join("");
  },
};
