import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AGENT_GID, AGENT_UID } from "../sandboxes/types.js";
import { BerthError } from "../util/errors.js";
import { inside } from "./paths.js";
import { ARCHIVE, EXTRACT, LIST, parseList, READ, scriptError, WORKSPACE_MOUNT } from "./scripts.js";
import type { FileRead, WorkspaceFiles } from "./types.js";
import { firstLine } from "./streams.js";

/** A listing or a stat that takes longer is stuck (a FIFO swapped in, say): it is killed. */
const SHORT_OP_MS = 15_000;

/**
 * The files API on a workspace berth reaches on this host (T0, T1, and any session whose
 * sandbox is not running): each operation runs in a throwaway bubblewrap sandbox that sees
 * the workspace, read-only /usr and nothing else, as the agent's uid when berth is root.
 * Whatever the agent planted in the workspace, the operation cannot reach anything else.
 */
export class LocalWorkspaceFiles implements WorkspaceFiles {
  constructor(
    private readonly hostDir: string,
    private readonly bwrap = "bwrap",
  ) {}

  /**
   * Starts a script in the view. `code` settles with its exit code; `failure(rel)` with the
   * error it stands for: no bubblewrap on this host, or the refusal the exit code names.
   */
  private run(script: string, args: string[], stdin: "ignore" | "pipe" = "ignore"): Run {
    const asRoot = process.getuid?.() === 0;
    const argv = [
      "--unshare-all",
      "--die-with-parent",
      "--new-session",
      "--clearenv",
      "--setenv", "PATH", "/usr/bin:/bin",
      "--setenv", "LC_ALL", "C.UTF-8",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/lib", "/lib",
      ...(existsSync("/lib64") ? ["--symlink", "usr/lib64", "/lib64"] : []),
      "--proc", "/proc",
      "--dev", "/dev",
      "--tmpfs", "/tmp",
      "--bind", this.hostDir, WORKSPACE_MOUNT,
      "--chdir", WORKSPACE_MOUNT,
      "/bin/sh", "-c", script, "sh", ...args,
    ];
    const child = spawn(this.bwrap, argv, { stdio: [stdin, "pipe", "pipe"], ...(asRoot ? { uid: AGENT_UID, gid: AGENT_GID } : {}) }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
    let stderr = "";
    let spawnError: Error | undefined;
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = new Promise<number | null>((resolve) => {
      child.once("close", resolve);
      child.once("error", (e: NodeJS.ErrnoException) => {
        // No bubblewrap here: say what to install instead of failing obscurely.
        spawnError = e.code === "ENOENT" ? new BerthError(503, "files_unavailable", `the files API needs bubblewrap on berth's host (apt-get install bubblewrap): ${this.bwrap} was not found`) : e;
        child.stdout.destroy();
        resolve(null);
      });
    });
    const failure = async (rel: string) => {
      const c = await code;
      return spawnError ?? scriptError(c, rel, stderr);
    };
    return { child, code, failure };
  }

  /** Runs a script to completion; its stdout, or the refusal its exit code names. */
  private async collect(script: string, args: string[], rel: string): Promise<Buffer> {
    const { child, code, failure } = this.run(script, args);
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), SHORT_OP_MS);
    if ((await code.finally(() => clearTimeout(timer))) !== 0) throw await failure(rel);
    return Buffer.concat(out);
  }

  async list(rel: string, limit: number) {
    return parseList(await this.collect(LIST, [inside(WORKSPACE_MOUNT, rel), String(limit + 1)], rel), limit);
  }

  async read(rel: string, offset: number, length?: number): Promise<FileRead> {
    const { child, failure } = this.run(READ, [inside(WORKSPACE_MOUNT, rel), String(offset), length === undefined ? "" : String(length)]);
    const timer = setTimeout(() => child.kill("SIGKILL"), SHORT_OP_MS);
    const head = await firstLine(child.stdout).finally(() => clearTimeout(timer));
    if (head === undefined) throw await failure(rel);
    return { size: Number(head.line), body: head.rest };
  }

  async extract(tarFile: string, rel: string): Promise<void> {
    const { child, code, failure } = this.run(EXTRACT, [inside(WORKSPACE_MOUNT, rel)], "pipe");
    child.stdout.resume();
    // The script may refuse before reading: a broken pipe then is not the error to report.
    await pipeline(createReadStream(tarFile), child.stdin!).catch(() => undefined);
    if ((await code) !== 0) throw await failure(rel);
  }

  async archive(rel: string): Promise<Readable> {
    const { child, failure } = this.run(ARCHIVE, [inside(WORKSPACE_MOUNT, rel)]);
    // A refusal comes before any byte: wait for the first one (or the exit) to know which.
    const first = await firstLine(child.stdout, 0);
    if (first === undefined) throw await failure(rel);
    return first.rest;
  }
}

interface Run {
  child: ChildProcessByStdio<Writable | null, Readable, Readable>;
  code: Promise<number | null>;
  failure(rel: string): Promise<Error>;
}
