// What `berth image check` reads: a root filesystem directory, a root filesystem tar, a
// `docker save`/`podman save` archive (docker-archive manifest.json, or an OCI layout),
// or an image by name (saved to a temporary archive through the engine API socket or the
// podman/docker CLI). Every input becomes the same walk over files, each file knowing
// whether a newer layer deleted or replaced it (whiteouts applied), with its content
// streamed on demand.

import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import { ImageInputError, type ImageInput } from "./types.js";
import { directoryInput } from "./directory-input.js";
import { saveImage } from "./export.js";
import { magic, tarInput } from "./tar-input.js";

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
