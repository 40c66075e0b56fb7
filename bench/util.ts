import { createServer, type AddressInfo } from "node:net";
import { cpus, freemem, loadavg, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { resolve } from "node:path";

// Shared helpers for the benchmarks: timing, stats and markdown tables. Benchmarks print
// numbers; they never assert on them.

export const REPO = resolve(import.meta.dirname, "..");

export const now = (): number => performance.now();

export function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return Math.abs(x) >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`;
}

export function fmtInt(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return Math.round(x).toLocaleString("en-US");
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A markdown table; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(3, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => (cell ?? "").padEnd(widths[c]!)).join(" | ")} |`;
  return [line(rows[0]!), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.slice(1).map(line)].join("\n");
}

export function machineInfo(): string {
  const cs = cpus();
  let cgroupCpus = "";
  try {
    const [quota, period] = readFileSync("/sys/fs/cgroup/cpu.max", "utf8").trim().split(" ");
    if (quota && quota !== "max") cgroupCpus = `, cgroup cpu limit ${(Number(quota) / Number(period)).toFixed(2)}`;
  } catch {
    /* no cgroup v2 limit */
  }
  return [
    `node ${process.version}`,
    `${process.platform}/${process.arch} (kernel ${release()})`,
    `${cs.length} cpu${cs.length === 1 ? "" : "s"} (${cs[0]?.model.trim() ?? "unknown"}${cgroupCpus})`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`,
    `load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  ].join(" · ");
}

export function heading(title: string): void {
  process.stdout.write(`\n## ${title}\n\n_${machineInfo()}_\n\n`);
  const load = loadavg()[0]!;
  const n = cpus().length;
  if (load > n * 0.75)
    process.stdout.write(`> **Busy machine:** 1-minute load average ${load.toFixed(1)} on ${n} cpus before this benchmark; absolute times are inflated. Compare columns within a table.\n\n`);
}

export function say(s = ""): void {
  process.stdout.write(s + "\n");
}

/** Progress on stderr, so stdout stays a clean report. */
export function progress(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
