import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fmtMiB, fmtMs, heading, median, now, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// `berth serve --port 0` cold start: process spawn → first 200 from /health, with a fresh
// BERTH_HOME each time (new SQLite file, new token), and idle RSS after ~2 s.

const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 10);
const IDLE_MS = 2000;
const CLI = join(REPO, "dist", "cli", "main.js");

function vmRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

interface ColdSample {
  listening: number;
  health: number;
  rss: number;
}

async function once(): Promise<ColdSample> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-cold-"));
  const t0 = now();
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0"], {
    cwd: home,
    env: { PATH: process.env.PATH, BERTH_HOME: join(home, "home") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  try {
    const url = await withTimeout(
      new Promise<string>((resolve, reject) => {
        child.stderr!.on("data", (d) => {
          log += d;
          const m = /berth listening on (http:\/\/\S+)/.exec(log);
          if (m) resolve(m[1]!);
        });
        child.once("exit", (code) => reject(new Error(`berth serve exited ${code}: ${log}`)));
      }),
      30_000,
      "berth serve start",
    );
    const listening = now() - t0;
    // The port is only known from the log line; from there, poll until the first 200.
    for (;;) {
      try {
        const r = await fetch(`${url}/health`);
        await r.arrayBuffer();
        if (r.status === 200) break;
      } catch {
        /* not accepting yet */
      }
      if (now() - t0 > 30_000) throw new Error("no 200 from /health within 30 s");
      await sleep(2);
    }
    const health = now() - t0;
    await sleep(IDLE_MS);
    return { listening, health, rss: vmRssBytes(child.pid!) };
  } finally {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
  }
}

/** Bare Node start-up on this machine, for scale: spawn → exit of `node -e ""`. */
async function bareNode(): Promise<number> {
  const t0 = now();
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => child.once("exit", r));
  return now() - t0;
}

/** Bare Node http server: spawn → first 200, for scale. */
async function bareHttp(): Promise<{ health: number; rss: number }> {
  const src = `require("http").createServer((q,s)=>s.end("ok")).listen(0,"127.0.0.1",function(){process.stderr.write("listening on http://127.0.0.1:"+this.address().port+"\\n")})`;
  const t0 = now();
  const child = spawn(process.execPath, ["-e", src], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const url = await withTimeout(
      new Promise<string>((resolve) => {
        let log = "";
        child.stderr!.on("data", (d) => {
          log += d;
          const m = /listening on (http:\/\/\S+)/.exec(log);
          if (m) resolve(m[1]!);
        });
      }),
      10_000,
      "bare http server",
    );
    await (await fetch(url)).arrayBuffer();
    const health = now() - t0;
    await sleep(IDLE_MS);
    return { health, rss: vmRssBytes(child.pid!) };
  } finally {
    await stop(child);
  }
}

/**
 * Where start-up time goes, in a fresh process each time: importing each direct dependency
 * alone, importing all of berth (dist/app.js), then startServer() itself.
 */
async function breakdown(runs: number): Promise<string[][]> {
  const timeIn = async (code: string, env: NodeJS.ProcessEnv = {}): Promise<Record<string, number>> => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      cwd: REPO,
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const code_ = await new Promise<number | null>((r) => child.once("exit", r));
    if (code_ !== 0) throw new Error(`timing child failed (${code_}): ${err.slice(-500)}`);
    return JSON.parse(out.trim().split("\n").pop()!);
  };
  const deps = ["fastify", "@agentclientprotocol/sdk", "zod", "fastify-type-provider-zod", "pino", "yaml", "better-sqlite3"];
  const rows: string[][] = [["start-up step (fresh process each; imports overlap, e.g. zod)", "median"]];
  for (const d of deps) {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) xs.push((await timeIn(`const t=performance.now(); await import(${JSON.stringify(d)}); console.log(JSON.stringify({ms: performance.now()-t}))`)).ms!);
    rows.push([`import "${d}" alone`, fmtMs(median(xs))]);
  }
  const imp: number[] = [];
  const srv: number[] = [];
  const boot: number[] = [];
  for (let i = 0; i < runs; i++) {
    const home = mkdtempSync(join(tmpdir(), "berth-bench-cold-"));
    try {
      const r = await timeIn(
        `const t0=performance.now(); const { startServer } = await import("./dist/app.js"); const t1=performance.now();
         const { default: pino } = await import("pino");
         const s = await startServer({ config: { port: 0 }, logger: pino({ level: "info" }, pino.destination("/dev/null")) }); const t2=performance.now();
         await s.close(); console.log(JSON.stringify({ boot: t0, imp: t1-t0, srv: t2-t1 }))`,
        { BERTH_HOME: join(home, "home") },
      );
      boot.push(r.boot!);
      imp.push(r.imp!);
      srv.push(r.srv!);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
  rows.push(["node boot until user code runs (performance.now() at first line)", fmtMs(median(boot))]);
  rows.push(["import dist/app.js (all berth modules and their dependencies)", fmtMs(median(imp))]);
  rows.push(["startServer(): store, mock model, gateway, Fastify routes, listen", fmtMs(median(srv))]);
  return rows;
}

export async function run(): Promise<void> {
  heading("Cold start: `berth serve --port 0` → first 200 on /health");
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const built = statSync(CLI).mtimeMs;
  const stale = ["src/app.ts", "src/cli/main.ts", "src/api/server.ts"].filter((f) => statSync(join(REPO, f)).mtimeMs > built);
  if (stale.length) say(`> note: dist/ is older than ${stale.join(", ")}; run \`npm run build\` to measure the current source.\n`);

  progress("cold-start: warm-up spawn (discarded)");
  await once();
  const samples: ColdSample[] = [];
  const nodeOnly: number[] = [];
  const httpOnly: { health: number; rss: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    progress(`cold-start: spawn ${i + 1}/${RUNS}`);
    samples.push(await once());
    nodeOnly.push(await bareNode());
    if (i < 2) httpOnly.push(await bareHttp());
  }
  const ms = (xs: number[]) => [fmtMs(median(xs)), fmtMs(percentile(xs, 90)), fmtMs(Math.min(...xs)), fmtMs(Math.max(...xs))];
  say(`${RUNS} spawns of \`node dist/cli/main.js serve --port 0\` (after one warm-up), each with a fresh BERTH_HOME (new SQLite file and token),`);
  say(`no provider key (so berth also starts its own mock model), default log level; RSS = VmRSS ${IDLE_MS / 1000} s after the first 200.`);
  say();
  say(
    table([
      ["metric", "median", "p90", "min", "max"],
      ["spawn → 'berth listening' log line", ...ms(samples.map((s) => s.listening))],
      ["spawn → first 200 on /health", ...ms(samples.map((s) => s.health))],
      ["idle RSS after start", fmtMiB(median(samples.map((s) => s.rss))), fmtMiB(percentile(samples.map((s) => s.rss), 90)), fmtMiB(Math.min(...samples.map((s) => s.rss))), fmtMiB(Math.max(...samples.map((s) => s.rss)))],
      ["for scale: `node -e \"\"` spawn → exit", ...ms(nodeOnly)],
      [`for scale: bare node:http server spawn → first 200 (${httpOnly.length} runs)`, ...ms(httpOnly.map((s) => s.health))],
      [`for scale: bare node:http server idle RSS`, fmtMiB(median(httpOnly.map((s) => s.rss))), "", "", ""],
    ]),
  );
  progress("cold-start: start-up breakdown");
  say();
  say(table(await breakdown(3)));
}
