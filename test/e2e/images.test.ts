import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageCheckReport } from "../../src/images/check.js";
import { fake } from "../images/fixtures.js";
import { getHarness } from "../../src/harnesses/registry.js";
import { HARNESS_CACHE, REPO } from "./helpers.js";

// The image gates: every image of berth's recipes is built here with Podman, from a local
// Debian base (scripts/build-images.sh), and must pass `berth image check`; a deliberately
// bad image must fail it with each of its findings; the server image must serve /health
// as a non-root user. (`berth conformance` runs on the workspace images in conformance.test.ts;
// the first test here proves those are the builds of the current recipes.)
// Commands run asynchronously: a minutes-long spawnSync stalls the vitest worker's RPC.

const SERVER = process.env.BERTH_SERVER_IMAGE ?? "localhost/berth-server:latest";
const NODE = "localhost/berth-node:20";
const BASE = "localhost/berth-base:bookworm";
const WORKSPACE = "localhost/berth-workspace:latest";
const WORKSPACE_T4 = "localhost/berth-workspace:t4";
const SETUP = "run `sudo bash scripts/podman-setup.sh` (installs podman, starts its API service, builds the base and workspace images)";
const env = { ...process.env, CONTAINERS_CONF: join(REPO, "config/containers.conf") };

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], timeout = 120_000): Promise<Ran> {
  try {
    const r = await promisify(execFile)(cmd, args, { cwd: REPO, env, encoding: "utf8", timeout, maxBuffer: 64 << 20 });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    if (e?.code === "ENOENT") throw new Error(`${cmd} is not installed: ${SETUP}`);
    return { status: typeof e.code === "number" ? e.code : 1, stdout: String(e.stdout ?? ""), stderr: String(e.stderr ?? e.message) };
  }
}

const podman = (...args: string[]) => run("podman", args);
const tail = (r: Ran) => `exit ${r.status}\n${(r.stderr || r.stdout).trim().split("\n").slice(-30).join("\n")}`;

async function imageCheck(image: string): Promise<{ status: number; report: ImageCheckReport; stdout: string }> {
  const r = await run(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "image", "check", "--json", image], 600_000);
  expect(r.stdout, tail(r)).toMatch(/^\{/);
  return { status: r.status, report: JSON.parse(r.stdout) as ImageCheckReport, stdout: r.stdout };
}

const label = async (image: string) => (await podman("image", "inspect", "--format", '{{index .Labels "io.berth.recipe"}}', image)).stdout.trim();

// What this file creates and must remove, pass or fail.
const containers = new Set<string>();
const images = new Set<string>();
const dirs = new Set<string>();
const suffix = randomBytes(4).toString("hex");

beforeAll(async () => {
  const v = await run("podman", ["--version"]);
  if (v.status !== 0) throw new Error(`podman does not run (${tail(v)}): ${SETUP}`);
  if (!process.getuid || process.getuid() !== 0) throw new Error("the image gates build with rootful podman: run the e2e tests as root (CI does)");
  // Cold: about 5 minutes on 2 cores (most of it compiling better-sqlite3); seconds when up to date.
  const b = await run("bash", [join(REPO, "scripts/build-images.sh")], 1_800_000);
  if (b.status !== 0) throw new Error(`scripts/build-images.sh failed:\n${tail(b)}`);
}, 1_860_000);

afterAll(async () => {
  for (const c of containers) await podman("rm", "-f", "-v", c);
  for (const i of images) await podman("rmi", "-f", i);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 120_000);

describe("images built from the recipes", () => {
  it("the workspace images are the builds of the current images/workspace recipe (the ones conformance.test.ts runs)", async () => {
    const recipe = createHash("sha256")
      .update(Buffer.concat([readFileSync(join(REPO, "images/workspace/Containerfile")), readFileSync(join(REPO, "images/workspace/entrypoint.sh"))]))
      .digest("hex")
      .slice(0, 16);
    const baseId = (await podman("image", "inspect", "--format", "{{.Id}}", BASE)).stdout.trim().replace(/^sha256:/, "").slice(0, 12);
    for (const img of [WORKSPACE, WORKSPACE_T4]) expect(await label(img), img).toBe(`${recipe}-${baseId}`);
    for (const img of [NODE, SERVER]) expect(await label(img), img).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([SERVER, WORKSPACE, WORKSPACE_T4])("berth image check %s: green", async (image) => {
    const { status, report } = await imageCheck(image);
    const errors = report.findings.filter((f) => f.severity === "error");
    expect(errors, JSON.stringify(errors, null, 2)).toEqual([]);
    expect(report).toMatchObject({ ok: true, input: "image" });
    expect(report.user).toMatch(/^1000(:1000)?$/);
    expect(status).toBe(0);
  }, 600_000);

  it("the T4 image's sudoers pass its own visudo (the host may have none to validate them with)", async () => {
    const r = await podman("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "visudo", WORKSPACE_T4, "-c");
    expect(r.status, tail(r)).toBe(0);
  });

  it("the server image: a HEALTHCHECK, BERTH_HOME a volume, PORT honoured, non-root USER", async () => {
    const [inspect] = JSON.parse((await podman("image", "inspect", SERVER)).stdout);
    const config = inspect.Config;
    // Podman reports the Docker-format HEALTHCHECK next to Config, Docker inside it.
    expect((inspect.Healthcheck ?? config.Healthcheck)?.Test?.join(" ")).toContain("/health");
    expect(Object.keys(config.Volumes ?? {})).toContain("/var/lib/berth");
    expect(config.Env).toEqual(expect.arrayContaining(["BERTH_HOME=/var/lib/berth", "PORT=8765"]));
    expect(config.User).toBe("1000:1000");
    expect(config.Entrypoint).toEqual(["node", "/opt/berth/dist/bundle/berth.mjs"]);
  });
});

describe("berth image check is not toothless", () => {
  it("fails an image with Claude Code baked in, a key in ENV, a baked login and USER root, naming each", async () => {
    const envKey = fake.anthropic();
    const fileKey = fake.anthropic();
    const ctx = mkdtempSync(join(tmpdir(), "berth-bad-image-"));
    dirs.add(ctx);
    const put = (p: string, body: string) => {
      mkdirSync(dirname(join(ctx, "rootfs", p)), { recursive: true });
      writeFileSync(join(ctx, "rootfs", p), body);
    };
    const pkg = "/usr/local/lib/node_modules/@anthropic-ai/claude-code";
    put(`${pkg}/package.json`, JSON.stringify({ name: "@anthropic-ai/claude-code", version: "0.0.0-fake", bin: { claude: "cli.js" } }));
    put(`${pkg}/LICENSE.md`, "© Anthropic PBC. All rights reserved. Use is subject to Anthropic's Legal Agreements.\n");
    put(`${pkg}/cli.js`, "#!/usr/bin/env node\n");
    mkdirSync(join(ctx, "rootfs/usr/local/bin"), { recursive: true });
    symlinkSync("../lib/node_modules/@anthropic-ai/claude-code/cli.js", join(ctx, "rootfs/usr/local/bin/claude"));
    put("/root/.claude/.credentials.json", JSON.stringify({ claudeAiOauth: { accessToken: fileKey } }));
    writeFileSync(join(ctx, "Containerfile"), `FROM ${BASE}\nCOPY rootfs/ /\nENV ANTHROPIC_API_KEY=${envKey}\nUSER root\n`);
    const image = `localhost/berth-test-bad:${suffix}`;
    images.add(image);
    const b = await podman("build", "--network", "none", "-t", image, ctx);
    expect(b.status, tail(b)).toBe(0);

    const { status, report, stdout } = await imageCheck(image);
    expect(status).toBe(1);
    expect(report.ok).toBe(false);
    const has = (rule: string, path: string | RegExp, extra: object = {}) =>
      expect(report.findings, `${rule} ${path}`).toContainEqual(
        expect.objectContaining({ severity: "error", rule, path: typeof path === "string" ? path : expect.stringMatching(path), ...extra }),
      );
    has("proprietary-harness", `${pkg}/package.json`);
    has("proprietary-harness", `${pkg}/LICENSE.md`);
    has("proprietary-harness", "/usr/local/bin/claude");
    has("credential", /^config:Env\[\d+\] ANTHROPIC_API_KEY$/, { kind: "anthropic-key" });
    has("credential", "/root/.claude/.credentials.json", { kind: "anthropic-key" });
    has("baked-login", "/root/.claude/.credentials.json");
    has("root-user", "config:User");
    // Reported redacted: the report itself carries no key.
    expect(stdout).not.toContain(envKey.slice(14));
    expect(stdout).not.toContain(fileKey.slice(14));
  }, 300_000);

  it("fails an image with the real Claude Code (berth's own install of it) copied in under another directory", async () => {
    // The packages npm installed for the claude harness (the e2e global setup installs it):
    // the Agent SDK and its per-platform package with the native `claude` binary.
    const spec = getHarness("claude")!;
    const from = join(HARNESS_CACHE, "claude", spec.version, "node_modules", "@anthropic-ai");
    if (!existsSync(join(from, "claude-agent-sdk-linux-x64", "claude")))
      throw new Error(`Claude Code is not installed at ${from}: run the e2e suite (its global setup installs it) or \`berth harness install claude\` with BERTH_HARNESS_CACHE=${HARNESS_CACHE}`);
    const ctx = mkdtempSync(join(tmpdir(), "berth-bad-image-"));
    dirs.add(ctx);
    for (const pkg of ["claude-agent-sdk", "claude-agent-sdk-linux-x64"]) cpSync(join(from, pkg), join(ctx, "vendor", pkg), { recursive: true });
    writeFileSync(join(ctx, "Containerfile"), `FROM ${BASE}\nCOPY vendor/ /opt/agent/vendor/\nUSER 1000:1000\n`);
    const image = `localhost/berth-test-bad-real:${suffix}`;
    images.add(image);
    const b = await podman("build", "--network", "none", "-t", image, ctx);
    expect(b.status, tail(b)).toBe(0);

    const { status, report } = await imageCheck(image);
    expect(status).toBe(1);
    const harness = report.findings.filter((f) => f.rule === "proprietary-harness" && f.severity === "error").map((f) => f.path);
    for (const path of [
      "/opt/agent/vendor/claude-agent-sdk/package.json",
      "/opt/agent/vendor/claude-agent-sdk-linux-x64/package.json",
      "/opt/agent/vendor/claude-agent-sdk-linux-x64/claude",
    ])
      expect(harness, `${path} among ${JSON.stringify(harness)}`).toContain(path);
    // Nothing else is wrong with it: the findings are the harness's alone.
    expect(report.findings.filter((f) => f.severity === "error" && f.rule !== "proprietary-harness")).toEqual([]);
  }, 300_000);
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", res));
  const port = (srv.address() as { port: number }).port;
  await new Promise((res) => srv.close(res));
  return port;
}

/** pid and every descendant, through /proc/<pid>/task/<tid>/children. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const c of readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) out.push(Number(c));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe("the server image runs", () => {
  it("answers 200 on /health on the port PORT names, as uid 1000, and its HEALTHCHECK passes", async () => {
    const name = `berth-test-server-${suffix}`;
    const port = await freePort();
    containers.add(name);
    // Host network: no CNI/netavark set-up needed here; PORT moves the server off 8765.
    const r = await podman("run", "-d", "--init", "--name", name, "--network", "host", "-e", `PORT=${port}`, SERVER);
    expect(r.status, tail(r)).toBe(0);
    const logs = async () => tail(await podman("logs", name));

    let status = 0;
    const deadline = Date.now() + 60_000;
    while (status !== 200 && Date.now() < deadline) {
      status = await fetch(`http://127.0.0.1:${port}/health`).then((x) => x.status, () => 0);
      if (status !== 200) await sleep(250);
    }
    expect(status, await logs()).toBe(200);
    // The API itself wants the token berth generated into BERTH_HOME.
    expect((await fetch(`http://127.0.0.1:${port}/v1/sessions`)).status).toBe(401);

    const id = await podman("exec", name, "id", "-u");
    expect(id.stdout.trim(), tail(id)).toBe("1000");
    // Every process of the container as the host sees it (init, then `node dist/bundle/berth.mjs serve`): uid 1000.
    const pid = Number((await podman("inspect", "--format", "{{.State.Pid}}", name)).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    const procs = tree(pid).map((p) => ({
      p,
      cmd: readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ").trim(),
      uids: /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))![1]!.split(/\s+/),
    }));
    expect(procs.some((x) => x.cmd.includes("/opt/berth/dist/bundle/berth.mjs serve")), JSON.stringify(procs)).toBe(true);
    for (const x of procs) expect(x.uids, x.cmd).toEqual(["1000", "1000", "1000", "1000"]);

    const hc = await podman("healthcheck", "run", name);
    expect(hc.status, tail(hc)).toBe(0);
  }, 180_000);
});
