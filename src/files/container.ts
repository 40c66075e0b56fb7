import type Dockerode from "dockerode";
import { PassThrough, type Readable } from "node:stream";
import { createReadStream } from "node:fs";
import { withDeadline } from "../util/limits.js";
import { BerthError } from "../util/errors.js";
import { inside } from "./paths.js";
import { LIST, MKDIR, parseList, READ, scriptError, WORKSPACE_MOUNT, ARCHIVE_CHECK } from "./scripts.js";
import { firstLine } from "./streams.js";
import type { FileRead, WorkspaceFiles } from "./types.js";
import { AGENT_GID, AGENT_UID } from "../sandboxes/types.js";

/**
 * The files API on a T2–T4 session whose container is running: through the engine, never
 * through the host path behind the container's back. Listing and ranged reads run as the
 * agent's user in the container (exec); archives go in and out through the engine's archive
 * API, after the same in-container check that the directory is inside the workspace.
 */
export class ContainerWorkspaceFiles implements WorkspaceFiles {
  private readonly container: Dockerode.Container;

  constructor(
    private readonly docker: Dockerode,
    containerId: string,
  ) {
    this.container = docker.getContainer(containerId);
  }

  /** Starts a script in the container; its demultiplexed stdout, and its exit code once done. */
  private async exec(script: string, args: string[]): Promise<{ stdout: PassThrough; stderr: () => string; code: Promise<number | null> }> {
    const ex = await this.container.exec({
      Cmd: ["/bin/sh", "-c", script, "sh", ...args],
      AttachStdout: true,
      AttachStderr: true,
      User: `${AGENT_UID}:${AGENT_GID}`,
      WorkingDir: WORKSPACE_MOUNT,
      Env: ["LC_ALL=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin"],
    });
    const stream = await ex.start({ hijack: true, stdin: false });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = "";
    stderr.on("data", (d: Buffer) => (err += d.toString()));
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const code = new Promise<number | null>((resolve, reject) => {
      stream.once("end", () => {
        stdout.end();
        stderr.end();
        ex.inspect().then((i) => resolve(i.ExitCode ?? null), reject);
      });
      stream.once("error", reject);
    });
    return { stdout, stderr: () => err, code };
  }

  private async collect(script: string, args: string[], rel: string): Promise<Buffer> {
    const { stdout, stderr, code } = await this.exec(script, args);
    const out: Buffer[] = [];
    stdout.on("data", (d: Buffer) => out.push(d));
    const c = await stuckAfter(code, rel);
    if (c !== 0) throw scriptError(c, rel, stderr());
    return Buffer.concat(out);
  }

  async list(rel: string, limit: number) {
    return parseList(await this.collect(LIST, [inside(WORKSPACE_MOUNT, rel), String(limit + 1)], rel), limit);
  }

  async read(rel: string, offset: number, length?: number): Promise<FileRead> {
    const { stdout, stderr, code } = await this.exec(READ, [inside(WORKSPACE_MOUNT, rel), String(offset), length === undefined ? "" : String(length)]);
    const head = await stuckAfter(firstLine(stdout), rel);
    if (head === undefined) throw scriptError(await code, rel, stderr());
    return { size: Number(head.line), body: head.rest };
  }

  async extract(tarFile: string, rel: string): Promise<void> {
    await this.collect(MKDIR, [inside(WORKSPACE_MOUNT, rel)], rel);
    await this.container.putArchive(createReadStream(tarFile), { path: inside(WORKSPACE_MOUNT, rel) });
  }

  async archive(rel: string): Promise<Readable> {
    await this.collect(ARCHIVE_CHECK, [inside(WORKSPACE_MOUNT, rel)], rel);
    return (await this.container.getArchive({ path: `${inside(WORKSPACE_MOUNT, rel)}/.` })) as Readable;
  }
}

/** A listing, a check or the start of a read that takes longer is stuck (a FIFO swapped in, say): the request fails. */
const SHORT_OP_MS = 15_000;

function stuckAfter<T>(p: Promise<T>, rel: string): Promise<T> {
  return withDeadline(p, SHORT_OP_MS, () => new BerthError(504, "files_timeout", `the workspace operation on ${JSON.stringify(rel || ".")} did not answer within ${SHORT_OP_MS / 1000}s`));
}
