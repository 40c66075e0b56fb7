import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Berth, type Session } from "../packages/client/src/index.js";
import { startServer } from "../src/app.js";
import { startGitServer } from "../test/e2e/git-server.js";
import { useMinimalHarness } from "../test/e2e/minimal-harness.js";
import { fmtMs, heading, median, now, percentile, progress, REPO, say, table } from "./util.js";

// Workspaces in and out, each against the plain host tool, in the same run:
// - clone-to-ready: a session seeded from a git repository (cloned by berth in the session's
//   T1 sandbox, through its egress proxy) against an empty one, and `git clone` on the host
//   alone, from the same local `git http-backend`;
// - archives: a tar uploaded into a workspace and the workspace downloaded again through the
//   files API (T1 and T2), against `tar -x` and `tar -c` of the same tree on the host.
// The harness is the minimal ACP agent (test/e2e/minimal-harness.ts): what is measured is berth.

const RUNS = Number(process.env.BENCH_WORKSPACE_RUNS ?? 5);
const REPO_FILES = Number(process.env.BENCH_REPO_FILES ?? 2000);
const TREE_MB = Number(process.env.BENCH_ARCHIVE_MB ?? 100);
const TOKEN = "brt_bench_" + "w".repeat(32);
const GIT_HOST = "127.0.0.2";

const sh = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH!, HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: "1" } });
// Asynchronous where the other end is this process (the git server): a blocking call would stall it.
const shAsync = (cmd: string, args: string[]) => promisify(execFile)(cmd, args, { env: { PATH: process.env.PATH!, HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: "1" } });
const timed = async (f: () => Promise<unknown> | unknown): Promise<number> => {
  const t = now();
  await f();
  return now() - t;
};
const stats = (xs: number[]) => [fmtMs(median(xs)), fmtMs(percentile(xs, 90))];
const mbps = (bytes: number, ms: number[]) => [`${(bytes / 1e6 / (median(ms) / 1000)).toFixed(0)} MB/s`, fmtMs(median(ms)), fmtMs(percentile(ms, 90))];

export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "berth-bench-ws-"));
  chmodSync(root, 0o711);
  useMinimalHarness();
  // A repository of REPO_FILES source-like files (~5 KB each), one commit, served over HTTP.
  const src = join(root, "src");
  mkdirSync(src);
  for (let i = 0; i < REPO_FILES; i++) {
    const dir = join(src, `pkg${i % 40}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `mod${i}.ts`), `// module ${i}\n` + `export const data${i} = "${randomBytes(2400).toString("hex")}";\n`);
  }
  sh("git", ["init", "-q", "-b", "main"], src);
  sh("git", ["add", "-A"], src);
  sh("git", ["-c", "user.name=bench", "-c", "user.email=bench@berth.invalid", "commit", "-q", "-m", "bench"], src);
  const gitRoot = join(root, "git");
  mkdirSync(gitRoot);
  sh("git", ["clone", "-q", "--bare", src, join(gitRoot, "repo.git")]);
  const git = await startGitServer(gitRoot, GIT_HOST, () => true);
  const url = `http://${GIT_HOST}:${git.port}/repo.git`;

  // A tree of TREE_MB in 1 MB files of random bytes, and its tar.
  const tree = join(root, "tree");
  mkdirSync(tree);
  for (let i = 0; i < TREE_MB; i++) writeFileSync(join(tree, `blob${i}.bin`), randomBytes(1024 * 1024));
  const tarFile = join(root, "tree.tar");
  sh("tar", ["-cf", tarFile, "-C", tree, "."]);
  const tarBytes = statSync(tarFile).size;

  const server = await startServer({
    config: { port: 0, home: join(root, "home"), harnessCache: process.env.BERTH_HARNESS_CACHE ?? join(REPO, ".cache", "harnesses") },
    env: { PATH: process.env.PATH, BERTH_TOKEN: TOKEN, BERTH_ALLOW_HOST_TIER: "1" },
    logger: pino({ level: "warn" }, pino.destination(2)),
  });
  try {
    await server.recovered;
    const berth = Berth.connect({ baseUrl: server.url, token: TOKEN });
    const network = { allow: [`${GIT_HOST}:${git.port}`], allowPrivateAddresses: true };
    const ready = async (req: Parameters<Berth["createSession"]>[0]): Promise<{ ms: number; session: Session }> => {
      const t = now();
      const session = await berth.createSession(req);
      await session.ready();
      return { ms: now() - t, session };
    };

    heading(`Workspaces: clone-to-ready (${REPO_FILES.toLocaleString()} files, ${RUNS} runs each, interleaved)`);
    const clone: number[] = [];
    const empty: number[] = [];
    const seeded: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      progress(`workspaces: clone round ${r + 1}/${RUNS}`);
      const dest = join(root, `clone-${r}`);
      clone.push(await timed(() => shAsync("git", ["clone", "-q", url, dest])));
      rmSync(dest, { recursive: true, force: true });
      const a = await ready({ harness: "minimal", tier: "process", network });
      empty.push(a.ms);
      await a.session.end();
      const b = await ready({ harness: "minimal", tier: "process", network, workspace: { git: { url } } });
      seeded.push(b.ms);
      const files = await b.session.listFiles(`pkg0`);
      if (files.entries.length !== REPO_FILES / 40) throw new Error(`the clone has ${files.entries.length} files in pkg0, not ${REPO_FILES / 40}`);
      await b.session.end();
    }
    const overhead = seeded.map((s, i) => s - empty[i]!);
    say(
      table([
        ["what", "median", "p90"],
        ["`git clone` on the host", ...stats(clone)],
        ["berth session, empty workspace: POST → ready (T1)", ...stats(empty)],
        ["berth session, workspace.git: POST → ready (T1)", ...stats(seeded)],
        ["clone's cost in berth (seeded − empty, per round)", ...stats(overhead)],
      ]),
    );
    say();
    say(`Clone in berth ÷ git clone alone: ${(median(overhead) / median(clone)).toFixed(2)}× (medians). berth's clone starts a T1 sandbox of its own and goes through the session's egress proxy.`);

    heading(`Workspaces: archives in and out (${TREE_MB} MB in ${TREE_MB} files of random bytes, ${RUNS} runs each)`);
    const hostX: number[] = [];
    const hostC: number[] = [];
    const up: Record<string, number[]> = { process: [], container: [] };
    const down: Record<string, number[]> = { process: [], container: [] };
    const sessions: Record<string, Session> = {};
    for (const tier of ["process", "container"]) sessions[tier] = (await ready({ harness: "minimal", tier })).session;
    for (let r = 0; r < RUNS; r++) {
      progress(`workspaces: archive round ${r + 1}/${RUNS}`);
      const dest = join(root, `x-${r}`);
      mkdirSync(dest);
      hostX.push(await timed(() => sh("tar", ["-xf", tarFile, "-C", dest])));
      hostC.push(await timed(() => sh("tar", ["-cf", join(root, `c-${r}.tar`), "-C", dest, "."])));
      rmSync(dest, { recursive: true, force: true });
      rmSync(join(root, `c-${r}.tar`), { force: true });
      // The client is curl, in a process of its own (an in-process client would share berth's event loop).
      for (const tier of ["process", "container"]) {
        const s = sessions[tier]!;
        const at = `${server.url}/v1/sessions/${s.id}/files/archive?path=r${r}`;
        const auth = ["-H", `authorization: Bearer ${TOKEN}`];
        up[tier]!.push(await timed(() => shAsync("curl", ["-sSf", "-X", "PUT", ...auth, "-H", "content-type: application/x-tar", "--data-binary", `@${tarFile}`, "-o", "/dev/null", at])));
        const out = join(root, `down-${tier}-${r}.tar`);
        down[tier]!.push(await timed(() => shAsync("curl", ["-sSf", ...auth, "-o", out, at])));
        if (statSync(out).size < TREE_MB * 1024 * 1024) throw new Error(`${tier}: downloaded ${statSync(out).size} bytes, less than the ${TREE_MB} MB uploaded`);
        rmSync(out);
      }
    }
    for (const s of Object.values(sessions)) await s.end();
    say(
      table([
        ["what", "throughput (median)", "median", "p90"],
        ["host `tar -x` (into a directory)", ...mbps(tarBytes, hostX)],
        ["berth upload, T1 (PUT .../files/archive: checked, re-packed, extracted in bubblewrap)", ...mbps(tarBytes, up.process!)],
        ["berth upload, T2 (… extracted through the engine's archive API)", ...mbps(tarBytes, up.container!)],
        ["host `tar -c` (to a file)", ...mbps(tarBytes, hostC)],
        ["berth download, T1 (GET .../files/archive: tar in bubblewrap → HTTP)", ...mbps(tarBytes, down.process!)],
        ["berth download, T2 (… the engine's archive API → HTTP)", ...mbps(tarBytes, down.container!)],
      ]),
    );
    say();
    say(
      `Upload through berth ÷ host tar -x: T1 ${(median(up.process!) / median(hostX)).toFixed(1)}×, T2 ${(median(up.container!) / median(hostX)).toFixed(1)}× the time; download ÷ host tar -c: T1 ${(median(down.process!) / median(hostC)).toFixed(1)}×, T2 ${(median(down.container!) / median(hostC)).toFixed(1)}× (medians). The page cache is warm for all.`,
    );
  } finally {
    await server.close();
    await git.close();
    rmSync(root, { recursive: true, force: true });
  }
}
