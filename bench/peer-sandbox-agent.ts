import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { MINIMAL_AGENT_JS } from "../test/e2e/minimal-harness.js";
import { freePort, now, progress, REPO, withTimeout } from "./util.js";

// The peer sandbox-agent (Rivet) for same-run comparisons: its release binary (a static Rust
// executable shipped as an npm optional dependency), installed into .cache/peers on first use.
// It runs only agents named in an ACP registry. To run berth's minimal bench agent through it,
// we serve a one-entry registry on loopback whose npx distribution is a local tarball of that
// agent, under the registry id of an adapter it knows (pi-acp): the same agent program berth
// runs in the ingest bench, so the two sides differ only in the server between agent and client.

export const PEER_VERSION = "0.4.2";
const PEER_DIR = join(REPO, ".cache", "peers", `sandbox-agent-${PEER_VERSION}`);

export function installSandboxAgent(): string | undefined {
  const bin = join(PEER_DIR, "node_modules", "@sandbox-agent", "cli-linux-x64", "bin", "sandbox-agent");
  if (!existsSync(bin)) {
    progress(`installing @sandbox-agent/cli@${PEER_VERSION} into ${PEER_DIR}`);
    const r = spawnSync("npm", ["install", "--prefix", PEER_DIR, "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", `@sandbox-agent/cli@${PEER_VERSION}`], { stdio: "ignore" });
    if (r.status !== 0 || !existsSync(bin)) return undefined;
  }
  chmodSync(bin, 0o755);
  return bin;
}

export interface PeerFlood {
  /** Updates/s per run: prompt sent → last update read on the SSE stream. */
  rates: number[];
  /** Updates the agent sent that never reached the SSE client, per run. */
  lost: number[];
}

/** One sandbox-agent server, one ACP session of the minimal agent, `runs` floods of `updates` chunks. */
export async function sandboxAgentFlood(bin: string, updates: number, runs: number): Promise<PeerFlood> {
  const root = mkdtempSync(join(tmpdir(), "berth-bench-peer-"));
  const home = join(root, "home");
  const pkg = join(root, "pkg");
  mkdirSync(home);
  mkdirSync(pkg);
  writeFileSync(join(pkg, "agent.js"), "#!/usr/bin/env node\n" + MINIMAL_AGENT_JS, { mode: 0o755 });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "berth-minimal-agent", version: "1.0.0", bin: { "pi-acp": "agent.js" } }));
  const packed = spawnSync("npm", ["pack", "--silent", "--pack-destination", root], { cwd: pkg, encoding: "utf8" });
  if (packed.status !== 0) throw new Error(`npm pack of the minimal agent failed: ${packed.stderr}`);
  const tarball = join(root, packed.stdout.trim());
  const registryBody = JSON.stringify({
    version: "1.0.0",
    agents: [{ id: "pi-acp", name: "berth minimal agent", version: "1.0.0", description: "bench", authors: [], license: "MIT", distribution: { npx: { package: `file:${tarball}`, args: [], env: {} } } }],
  });
  const registry: Server = createServer((_q, r) => r.setHeader("content-type", "application/json").end(registryBody));
  await new Promise<void>((r) => registry.listen(0, "127.0.0.1", r));
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    SANDBOX_AGENT_ACP_REGISTRY_URL: `http://127.0.0.1:${(registry.address() as AddressInfo).port}/registry.json`,
    SANDBOX_AGENT_REQUIRE_PREINSTALL: "1",
    MINIMAL_UPDATES: String(updates),
  };
  // Asynchronously: the registry it fetches is served by this very process.
  const installer = spawn(bin, ["install-agent", "pi", "--no-token"], { env, stdio: ["ignore", "ignore", "pipe"] });
  let installLog = "";
  installer.stderr.on("data", (d: Buffer) => (installLog += d.toString()));
  const code = await new Promise<number | null>((r) => installer.on("close", r));
  if (code !== 0) throw new Error(`sandbox-agent install-agent failed: ${installLog.slice(-500)}`);
  const port = await freePort();
  const server = spawn(bin, ["server", "--no-token", "--no-telemetry", "--port", String(port)], { env, stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  const abort = new AbortController();
  try {
    await withTimeout(
      (async () => {
        for (;;) {
          const ok = await fetch(`${base}/v1/health`).then((r) => r.ok, () => false);
          if (ok) return;
          await sleep(20);
        }
      })(),
      10_000,
      "sandbox-agent start",
    );
    let id = 0;
    const rpc = async (method: string, params: unknown, query = "") => {
      const r = await fetch(`${base}/v1/acp/bench${query}`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      });
      const body = (await r.json()) as { result?: Record<string, unknown>; error?: unknown };
      if (!r.ok || body.error) throw new Error(`sandbox-agent ${method}: ${r.status} ${JSON.stringify(body.error ?? body)}`);
      return body.result!;
    };
    await rpc("initialize", { protocolVersion: 1, clientCapabilities: {} }, "?agent=pi");
    const { sessionId } = (await rpc("session/new", { cwd: root, mcpServers: [] })) as { sessionId: string };
    // The SSE stream of the ACP server's envelopes: count the session/update notifications.
    const sse = await fetch(`${base}/v1/acp/bench`, { headers: { accept: "text/event-stream" }, signal: abort.signal });
    let received = 0;
    let last = 0;
    void (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of sse.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          if (buf.slice(0, i).includes('"session/update"')) {
            received++;
            last = now();
          }
          buf = buf.slice(i + 2);
        }
      }
    })().catch(() => undefined);
    const out: PeerFlood = { rates: [], lost: [] };
    for (let run = 0; run < runs; run++) {
      progress(`ingest through sandbox-agent: run ${run + 1}/${runs}`);
      received = 0;
      const t0 = now();
      await rpc("session/prompt", { sessionId, prompt: [{ type: "text", text: "flood" }] });
      // The prompt's answer can overtake its updates on the stream: wait until it goes quiet.
      for (let seen = -1; seen !== received; ) {
        seen = received;
        await sleep(300);
      }
      out.rates.push((received / (last - t0)) * 1000);
      out.lost.push(updates - received);
    }
    return out;
  } finally {
    abort.abort();
    server.kill("SIGTERM");
    registry.close();
    rmSync(root, { recursive: true, force: true });
  }
}
