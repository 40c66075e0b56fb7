import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BERTH_ID } from "../util/ids.js";

const run = promisify(execFile);

// What a turn changed in the workspace: berth snapshots the workspace at the start and at the
// end of every turn into a private git object store per session, outside the workspace and
// never mounted into a sandbox, so the agent cannot rewrite the record of what it did. The
// workspace's own .git is not used, and nothing of the workspace configures this git: no
// hooks, no config, no filter drivers, no fsmonitor (a planted .gitattributes can only name
// filters, and this git has none defined). Symlinks are stored as links, never followed.
// Files the workspace's .gitignore names are not snapshotted.

export interface ChangedFile {
  path: string;
  change: "added" | "modified" | "deleted";
  binary: boolean;
  additions?: number;
  deletions?: number;
}

export interface TurnDiff {
  files: ChangedFile[];
  /** The unified diff of the text files, cut at `maxPatchBytes` (binary files are listed, not inlined). */
  patch: string;
  truncated: boolean;
}

const LIMIT = { files: 1000, patchBytes: 1024 * 1024 };

export class WorkspaceSnapshots {
  constructor(
    /** $BERTH_HOME/snapshots: one bare repository per session. */
    private readonly root: string,
    private readonly timeoutMs = 60_000,
  ) {}

  /** No system or user git config, no prompt: nothing but these arguments configures git. */
  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: this.root, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
  }

  private gitDir(sessionId: string): string {
    if (!BERTH_ID.test(sessionId)) throw new Error(`not a session id: ${sessionId}`);
    return join(this.root, `${sessionId}.git`);
  }

  private async git(sessionId: string, workspace: string | undefined, args: string[], maxBuffer = 64 * 1024 * 1024): Promise<string> {
    const dir = this.gitDir(sessionId);
    const tree = workspace ? ["-c", "core.bare=false", `--work-tree=${workspace}`] : [];
    const { stdout } = await run(
      "git",
      ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.quotePath=false", "-c", "safe.directory=*", `--git-dir=${dir}`, ...tree, ...args],
      {
        encoding: "utf8",
        maxBuffer,
        timeout: this.timeoutMs,
        cwd: this.root,
        env: { ...this.env(), GIT_INDEX_FILE: join(dir, "index") },
      },
    );
    return stdout;
  }

  /** Records the workspace as it is now under `ref` (e.g. turns/<id>/start); returns the tree id. */
  async take(sessionId: string, workspace: string, ref: string): Promise<string> {
    const dir = this.gitDir(sessionId);
    if (!existsSync(join(dir, "HEAD"))) {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      // Copies of the workspace: readable by berth only (0600 files, 0700 directories), no sample hooks.
      await run("git", ["init", "--quiet", "--bare", "--shared=0600", "--template=", dir], { env: this.env() });
    }
    await this.git(sessionId, workspace, ["add", "--all", "--ignore-errors", "--", "."]).catch(async (e: { code?: number }) => {
      // --ignore-errors: an unreadable file is skipped (exit 1) and the rest is staged.
      if (e.code !== 1) throw e;
    });
    const tree = (await this.git(sessionId, workspace, ["write-tree"])).trim();
    await this.git(sessionId, undefined, ["update-ref", `refs/berth/${ref}`, tree]);
    return tree;
  }

  /** What changed between two snapshots. */
  async diff(sessionId: string, from: string, to: string): Promise<TurnDiff> {
    const a = `refs/berth/${from}`;
    const b = `refs/berth/${to}`;
    const status = (await this.git(sessionId, undefined, ["diff", "--no-renames", "--name-status", "-z", a, b])).split("\0").filter(Boolean);
    const numstat = (await this.git(sessionId, undefined, ["diff", "--no-renames", "--numstat", "-z", a, b])).split("\0").filter(Boolean);
    const counts = new Map<string, [string, string]>();
    for (const line of numstat) {
      const [add, del, path] = line.split("\t");
      if (path !== undefined) counts.set(path, [add!, del!]);
    }
    const files: ChangedFile[] = [];
    for (let i = 0; i + 1 < status.length && files.length < LIMIT.files; i += 2) {
      const path = status[i + 1]!;
      const [add, del] = counts.get(path) ?? ["0", "0"];
      const binary = add === "-";
      files.push({
        path,
        change: status[i] === "A" ? "added" : status[i] === "D" ? "deleted" : "modified",
        binary,
        ...(binary ? {} : { additions: Number(add), deletions: Number(del) }),
      });
    }
    let patch = "";
    let truncated = status.length / 2 > LIMIT.files;
    try {
      patch = await this.git(sessionId, undefined, ["diff", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv", a, b], LIMIT.patchBytes);
    } catch (e) {
      if ((e as { code?: string }).code !== "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") throw e;
      patch = String((e as { stdout?: string }).stdout ?? "").slice(0, LIMIT.patchBytes);
      truncated = true;
    }
    return { files, patch, truncated };
  }

  /** A snapshot as a tar file (git's own modes; symlinks as links). */
  async archive(sessionId: string, ref: string, file: string): Promise<void> {
    await this.git(sessionId, undefined, ["archive", "--format=tar", `--output=${file}`, `refs/berth/${ref}`]);
  }

  /** Whether both snapshots of a turn exist. */
  async has(sessionId: string, ref: string): Promise<boolean> {
    if (!existsSync(join(this.gitDir(sessionId), "HEAD"))) return false;
    return this.git(sessionId, undefined, ["rev-parse", "--verify", "--quiet", `refs/berth/${ref}`]).then(
      () => true,
      () => false,
    );
  }

  remove(sessionId: string): void {
    rmSync(this.gitDir(sessionId), { recursive: true, force: true });
  }
}
