// Node only: start a berth server of your own, for tests and scripts.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Berth } from "./index.js";
import { BerthError } from "./errors.js";

export interface LocalServerOptions {
  /** The berth CLI to run: a path to its bin, default the `berth` package beside this one, else `berth` on PATH. */
  bin?: string;
  /** BERTH_HOME; default a fresh temporary directory, removed by stop(). */
  home?: string;
  /** More environment (provider keys, BERTH_* settings); PATH and HOME are passed through. */
  env?: Record<string, string>;
  /** How long to wait for the server to listen (default 30 s). */
  timeoutMs?: number;
}

export interface LocalServer {
  berth: Berth;
  url: string;
  token: string;
  home: string;
  /** Stops the server (SIGTERM: sessions become interrupted) and removes a temporary home. */
  stop(): Promise<void>;
}

/** Starts `berth serve` on a free loopback port with a fresh token, and connects to it. */
export async function startLocalServer(o: LocalServerOptions = {}): Promise<LocalServer> {
  const ownHome = !o.home;
  const home = o.home ?? mkdtempSync(join(tmpdir(), "berth-local-"));
  const token = `brt_${randomBytes(24).toString("base64url")}`;
  const [cmd, args] = command(o.bin);
  const child = spawn(cmd, [...args, "serve", "--port", "0"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? home, ...o.env, BERTH_HOME: home, BERTH_TOKEN: token },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not listen within ${(o.timeoutMs ?? 30_000) / 1000} s`), o.timeoutMs ?? 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new BerthError(0, "network_error", `berth serve ${why}: ${log.slice(-2000)}`));
    };
    child.once("error", (e) => fail(`could not start (${e.message})`));
    child.once("exit", (code) => fail(`exited with ${code}`));
    child.stderr!.on("data", (d: Buffer) => {
      log += d;
      const m = /berth listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(m[1]!);
      }
    });
  });
  // Keep draining its log so the pipe never fills.
  child.stderr!.on("data", () => {});
  return { berth: Berth.connect({ baseUrl: url, token }), url, token, home, stop: () => stop(child, ownHome ? home : undefined) };
}

function command(bin?: string): [string, string[]] {
  if (bin) return bin.endsWith(".js") || bin.endsWith(".mjs") ? [process.execPath, [bin]] : [bin, []];
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("berth/package.json");
    const { bin: b } = require("berth/package.json") as { bin: Record<string, string> };
    return [process.execPath, [join(dirname(pkg), b.berth!)]];
  } catch {
    return ["berth", []];
  }
}

async function stop(child: ChildProcess, removeHome?: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    // 'close': the process has exited and its stderr pipe is drained.
    const exited = new Promise((r) => child.once("close", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  }
  if (removeHome) rmSync(removeHome, { recursive: true, force: true });
}
