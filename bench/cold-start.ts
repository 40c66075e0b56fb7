import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { installSandboxAgent, PEER_VERSION } from "./peer-sandbox-agent.js";
import { fmtMiB, fmtMs, freePort, heading, median, now, percentile, progress, REPO, say, table, withTimeout } from "./util.js";

// Server cold start, side by side in one run: spawn → first 200 on the health route, with a
// fresh home each time, and idle RSS ~2 s later. Variants, interleaved run by run: berth
// from tsc's per-file output (dist/cli/main.js), berth's bundle (dist/bundle/berth.mjs,
// what `npm run build` ships as the `berth` bin), and the peer sandbox-agent (its release
// binary from the npm registry, see peer-sandbox-agent.ts).

const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 10);
const IDLE_MS = 2000;
const CLI = join(REPO, "dist", "cli", "main.js");
const BUNDLE = join(REPO, "dist", "bundle", "berth.mjs");

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
  health: number;
  /** Spawn → first 200 on the readiness route (the API usable), where the server has one. */
  ready?: number;
  rss: number;
}

interface Variant {
  name: string;
  argv: (port: number) => string[];
  env: (home: string) => NodeJS.ProcessEnv;
  health: string;
  ready?: string;
}

async function once(v: Variant): Promise<ColdSample> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-cold-"));
  const port = await freePort();
  const t0 = now();
  const child = spawn(v.argv(port)[0]!, v.argv(port).slice(1), { cwd: home, env: v.env(home), stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  try {
    // The port is chosen here, so the health route is polled from the spawn on.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${v.name} exited ${child.exitCode}: ${log.slice(-500)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}${v.health}`);
        await r.arrayBuffer();
        if (r.status === 200) break;
      } catch {
        /* not accepting yet */
      }
      if (now() - t0 > 30_000) throw new Error(`${v.name}: no 200 from ${v.health} within 30 s: ${log.slice(-500)}`);
      await sleep(1);
    }
    const health = now() - t0;
    let ready: number | undefined;
    while (v.ready && ready === undefined) {
      const r = await fetch(`http://127.0.0.1:${port}${v.ready}`);
      await r.arrayBuffer();
      if (r.status === 200) ready = now() - t0;
      else if (now() - t0 > 30_000) throw new Error(`${v.name}: ${v.ready} not 200 within 30 s`);
      else await sleep(1);
    }
    await sleep(IDLE_MS);
    return { health, ...(ready !== undefined ? { ready } : {}), rss: vmRssBytes(child.pid!) };
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

/** Bare Node http server: spawn → first 200 and idle RSS, for scale. */
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
 * bench/agents/idle-core.ts bundled like the shipped bin (esbuild, better-sqlite3 external),
 * beside node_modules so that it resolves: berth's front door, configuration, SQLite store,
 * event log, logger and metrics registry, nothing else. Its idle RSS is the floor under any
 * lazily loaded berth that still answers an honest /ready and /metrics.
 */
async function buildIdleCore(): Promise<string> {
  const { build } = await import("esbuild");
  const outfile = join(REPO, "node_modules", ".cache", "berth-bench", "idle-core.mjs");
  await build({
    entryPoints: [join(REPO, "bench", "agents", "idle-core.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["better-sqlite3"],
    banner: { js: 'import { createRequire as __berthRequire } from "node:module"; const require = __berthRequire(import.meta.url);' },
    logLevel: "warning",
  });
  return outfile;
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
  heading("Cold start: server spawn → first 200 on its health route, idle RSS; berth vs sandbox-agent");
  for (const f of [CLI, BUNDLE]) if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`);
  const built = statSync(BUNDLE).mtimeMs;
  const stale = ["src/app.ts", "src/cli/main.ts", "src/api/server.ts"].filter((f) => statSync(join(REPO, f)).mtimeMs > built);
  if (stale.length) say(`> note: dist/ is older than ${stale.join(", ")}; run \`npm run build\` to measure the current source.\n`);

  const berthEnv = (home: string) => ({ PATH: process.env.PATH, BERTH_HOME: join(home, "home") });
  const variants: Variant[] = [
    { name: "berth, tsc output (`node dist/cli/main.js serve`)", argv: (p) => [process.execPath, CLI, "serve", "--port", String(p)], env: berthEnv, health: "/health", ready: "/ready" },
    { name: "berth, bundle (`node dist/bundle/berth.mjs serve`)", argv: (p) => [process.execPath, BUNDLE, "serve", "--port", String(p)], env: berthEnv, health: "/health", ready: "/ready" },
  ];
  const idleCore = await buildIdleCore();
  variants.push({ name: "for scale: berth's idle core alone (bench/agents/idle-core.ts, bundled)", argv: (p) => [process.execPath, idleCore, String(p)], env: berthEnv, health: "/health", ready: "/ready" });
  // BENCH_COLD_BEFORE=<checkout of an older berth, built>: its tsc output as one more variant, same run.
  const before = process.env.BENCH_COLD_BEFORE;
  if (before) {
    const cli = join(before, "dist", "cli", "main.js");
    if (!existsSync(cli)) throw new Error(`BENCH_COLD_BEFORE: ${cli} is missing; build that checkout first`);
    variants.unshift({ name: `berth before (${before}, \`node dist/cli/main.js serve\`)`, argv: (p) => [process.execPath, cli, "serve", "--port", String(p)], env: berthEnv, health: "/health", ready: "/ready" });
  }
  const peer = installSandboxAgent();
  if (peer)
    variants.push({
      name: `sandbox-agent ${PEER_VERSION} (\`sandbox-agent server --no-token\`)`,
      argv: (p) => [peer, "server", "--no-token", "--no-telemetry", "--port", String(p)],
      env: (home) => ({ PATH: process.env.PATH, HOME: home }),
      health: "/v1/health",
    });
  else say(`> sandbox-agent could not be installed from the npm registry: the peer row is missing.\n`);

  progress("cold-start: warm-up spawn of each (discarded)");
  for (const v of variants) await once(v);
  const samples = new Map<Variant, ColdSample[]>(variants.map((v) => [v, []]));
  const nodeOnly: number[] = [];
  const httpOnly: { health: number; rss: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    progress(`cold-start: round ${i + 1}/${RUNS}`);
    for (const v of variants) samples.get(v)!.push(await once(v));
    nodeOnly.push(await bareNode());
    if (i < 2) httpOnly.push(await bareHttp());
  }
  const ms = (xs: number[]) => [fmtMs(median(xs)), fmtMs(percentile(xs, 90)), fmtMs(Math.min(...xs)), fmtMs(Math.max(...xs))];
  const mib = (xs: number[]) => [fmtMiB(median(xs)), fmtMiB(percentile(xs, 90)), fmtMiB(Math.min(...xs)), fmtMiB(Math.max(...xs))];
  const peerHealth = peer ? median(samples.get(variants.at(-1)!)!.map((s) => s.health)) : undefined;
  say(`${RUNS} rounds (after one warm-up each), variants interleaved within a round; each spawn gets a fresh home (berth: a new SQLite file and token;`);
  say(`no provider key, so berth also starts its own mock model). The port is chosen by the bench and the route polled every ~1 ms from the spawn. RSS = VmRSS ${IDLE_MS / 1000} s after the first 200.`);
  say();
  const rows: string[][] = [["server", "metric", "median", "p90", "min", "max", "÷ peer (median)"]];
  for (const v of variants) {
    const xs = samples.get(v)!;
    const h = median(xs.map((s) => s.health));
    rows.push([v.name, "spawn → first 200", ...ms(xs.map((s) => s.health)), peerHealth ? `${(h / peerHealth).toFixed(1)}×` : ""]);
    if (v.ready) rows.push([v.name, "spawn → first 200 on /ready", ...ms(xs.map((s) => s.ready!)), ""]);
    rows.push([v.name, "idle RSS", ...mib(xs.map((s) => s.rss)), ""]);
  }
  rows.push(["for scale: `node -e \"\"`", "spawn → exit", ...ms(nodeOnly), ""]);
  rows.push([`for scale: bare node:http server (${httpOnly.length} runs)`, "spawn → first 200", ...ms(httpOnly.map((s) => s.health)), ""]);
  rows.push(["for scale: bare node:http server", "idle RSS", fmtMiB(median(httpOnly.map((s) => s.rss))), "", "", "", ""]);
  say(table(rows));
  progress("cold-start: start-up breakdown");
  say();
  say(table(await breakdown(3)));
}
