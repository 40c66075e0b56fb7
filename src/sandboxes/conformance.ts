import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { EgressProxy } from "./egress/proxy.js";
import type { SandboxDrivers } from "./index.js";
import { mkdirForAgent, writeAgentFile } from "./agent-owner.js";
import { writeRelay } from "./relay.js";
import { PROTECTED_WORKSPACE_PATHS, TIERS, type SandboxDriver, type Tier } from "./types.js";

/** The contract data file: probes and the outcome each tier promises. */
export const PROBES_FILE = new URL("../../conformance/probes.yaml", import.meta.url);

const Outcome = z.enum(["yes", "no"]);
const ProbeFile = z.object({
  tiers: z.array(z.enum(TIERS)),
  probes: z.array(
    z.object({
      id: z.string().regex(/^[a-z0-9_]+$/),
      description: z.string(),
      run: z.string().min(1),
      timeout: z.number().int().positive().optional(),
      expect: z.partialRecord(z.enum(TIERS), Outcome),
    }),
  ),
});
export type Probe = z.infer<typeof ProbeFile>["probes"][number];

export function loadProbes(path: URL | string = PROBES_FILE): z.infer<typeof ProbeFile> {
  const parsed = ProbeFile.safeParse(parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`invalid probe file ${String(path)}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

export interface ProbeResult {
  probe: string;
  tier: Tier;
  expected: "yes" | "no";
  observed: "yes" | "no" | "error";
  ok: boolean;
}

export interface TierReport {
  tier: Tier;
  driver: string;
  error?: string;
  results: ProbeResult[];
}

// Speaks plain HTTP to the egress proxy (absolute-form request) and checks the status.
const VIA_PROXY_JS = String.raw`"use strict";
const [url, want] = process.argv.slice(2);
const proxy = new URL(process.env.PROBE_PROXY);
const u = new URL(url);
const s = require("net").connect(+proxy.port, proxy.hostname, () => s.write("GET " + url + " HTTP/1.1\r\nHost: " + u.host + "\r\nConnection: close\r\n\r\n"));
let buf = "";
s.on("data", (d) => { buf += d; const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf); if (m) process.exit(m[1] === want ? 0 : 1); });
s.on("error", () => process.exit(1));
s.on("close", () => process.exit(1));
setTimeout(() => process.exit(1), 5000);
`;

const PROXY_PORT = 3128;

/**
 * Runs every probe inside one live sandbox per tier, as the agent, and compares with the
 * contract. The host side provides what the probes look for: a root-only secret, a marked
 * host process, a loopback server, and an egress proxy with a fixed allowlist.
 */
export async function runConformance(drivers: SandboxDrivers, tiers: Tier[], opts: { probesFile?: string; log?: (s: string) => void } = {}): Promise<TierReport[]> {
  const { probes } = loadProbes(opts.probesFile ?? PROBES_FILE);
  const root = mkdtempSync(join(tmpdir(), "berth-conformance-"));
  chmodSync(root, 0o711);
  const secret = join(root, "host-secret");
  writeFileSync(secret, "conformance-host-secret\n", { mode: 0o600 });
  const marker = `berth-conformance-marker-${process.pid}-${Date.now()}`;
  const hostProc = spawn(process.execPath, ["-e", "setTimeout(() => {}, 600000)", marker], { stdio: "ignore" });
  const server = http.createServer((_q, r) => r.end("conformance"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const reports: TierReport[] = [];
  try {
    for (const tier of tiers) {
      const driver = drivers.forTier(tier);
      if (!driver) {
        reports.push({ tier, driver: "-", error: `no driver for tier ${tier}`, results: [] });
        continue;
      }
      opts.log?.(`tier ${tier} (${driver.name}): starting a sandbox`);
      reports.push(await runTier(driver, tier, probes, { root, secret, marker, port, pid: hostProc.pid ?? 1 }));
    }
  } finally {
    hostProc.kill("SIGKILL");
    server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return reports;
}

async function runTier(
  driver: SandboxDriver,
  tier: Tier,
  probes: Probe[],
  host: { root: string; secret: string; marker: string; port: number; pid: number },
): Promise<TierReport> {
  const dir = mkdtempSync(join(host.root, `${tier}-`));
  chmodSync(dir, 0o711);
  const workspace = join(dir, "workspace");
  const home = join(dir, "session", "home");
  const harnessDir = join(dir, "harness");
  // Made for the agent, as berth makes a session's (the drivers chown nothing).
  mkdirForAgent(workspace, 0o755);
  mkdirForAgent(join(workspace, ".git"), 0o755);
  mkdirForAgent(join(workspace, ".git", "hooks"), 0o755);
  writeAgentFile(workspace, ".git/config", "[core]\n", 0o644);
  mkdirSync(join(dir, "session"), { mode: 0o711 });
  mkdirForAgent(home, 0o700);
  writeAgentFile(home, ".config/berth/token", "probe-token\n", 0o600);
  mkdirSync(harnessDir);
  chmodSync(join(dir, "session"), 0o711);
  const viaProxy = join(dir, "via-proxy.js");
  writeFileSync(viaProxy, VIA_PROXY_JS, { mode: 0o644 });

  const fixed: Record<string, string[]> = {
    "allowed.berth.test": ["127.0.0.1"],
    "denied.berth.test": ["127.0.0.1"],
    "metadata.berth.test": ["169.254.169.254"],
  };
  const egress = new EgressProxy({
    socketPath: join(dir, "egress.sock"),
    // Loopback stands in for the internet (nothing else may be a target here); metadata
    // must stay refused even so.
    policy: { allow: [`allowed.berth.test:${host.port}`, "metadata.berth.test"], allowPrivateAddresses: true },
    resolve: async (name) => fixed[name] ?? Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })),
  });
  await egress.start();

  const script = probes
    .map((p) => {
      const q = `'${p.run.replace(/'/g, `'\\''`)}'`;
      return `if timeout ${p.timeout ?? 20} sh -c ${q} >/dev/null 2>&1; then echo "PROBE ${p.id} yes"; else echo "PROBE ${p.id} no"; fi`;
    })
    .join("\n");
  const report: TierReport = { tier, driver: driver.name, results: [] };
  try {
    await driver.check();
    const proc = await driver.start({
      sessionId: `conformance-${tier}`,
      tier,
      workspace,
      home,
      harnessDir,
      command: ["/bin/sh", "-c", script],
      env: {
        PROBE_SECRET: host.secret,
        PROBE_MARKER: host.marker,
        PROBE_HOST_PID: String(host.pid),
        PROBE_HOST_PORT: String(host.port),
        PROBE_PORT: String(host.port),
        PROBE_PROXY: `http://127.0.0.1:${PROXY_PORT}`,
      },
      net: { forwards: [{ port: PROXY_PORT, socket: egress.address }], relayScript: writeRelay(dir) },
      protect: PROTECTED_WORKSPACE_PATHS,
      files: [{ path: "/run/berth-probe/via-proxy.js", hostPath: viaProxy }],
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => void proc.kill(), 10 * 60_000);
    await proc.exited;
    clearTimeout(timer);
    await proc.kill();
    const seen = new Map<string, "yes" | "no">();
    for (const m of out.matchAll(/^PROBE (\S+) (yes|no)$/gm)) seen.set(m[1]!, m[2] as "yes" | "no");
    for (const p of probes) {
      const expected = p.expect[tier];
      if (!expected) continue;
      const observed = seen.get(p.id) ?? "error";
      report.results.push({ probe: p.id, tier, expected, observed, ok: observed === expected });
    }
    if (seen.size === 0) report.error = `the sandbox ran no probe: ${err.trim().slice(-500) || "no output"}`;
  } catch (e) {
    report.error = (e as Error).message;
  } finally {
    await egress.close();
  }
  return report;
}

/** A table: probe × tier, "expected/observed" with a mark. */
export function formatReport(reports: TierReport[], probes: Probe[]): string {
  const head = ["PROBE", ...reports.map((r) => `${r.tier} (${r.driver})`)];
  const rows = probes.map((p) => [
    p.id,
    ...reports.map((r) => {
      if (r.error && r.results.length === 0) return "unavailable";
      const res = r.results.find((x) => x.probe === p.id);
      if (!res) return "-";
      return `${res.ok ? "ok  " : "FAIL"} ${res.expected}/${res.observed}`;
    }),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  for (const r of reports) if (r.error) lines.push(`${r.tier}: ${r.error}`);
  lines.push("(cells: expected/observed)");
  return lines.join("\n");
}

export function passed(reports: TierReport[]): boolean {
  return reports.every((r) => !r.error && r.results.length > 0 && r.results.every((x) => x.ok));
}

