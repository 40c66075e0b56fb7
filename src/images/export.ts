// Images by name: exported to a temporary archive through the engine the operator named,
// else the podman or docker CLI.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { engineClient } from "../sandboxes/engine.js";
import { ImageInputError } from "./types.js";

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
