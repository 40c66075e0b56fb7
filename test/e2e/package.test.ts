import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HARNESS_CACHE, REPO } from "./helpers.js";

// berth as its users get it: `npm pack` of the server and of the SDK, the server installed
// globally into an empty prefix (dependencies from the npm registry), then `berth serve`,
// `berth run` and `berth conformance --tier process` from that install; every path a hint
// names exists there; and the SDK tarball installed into an empty project runs its README's
// example against the installed server.
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "berth-pack-"));
chmodSync(dir, 0o711); // the sandboxes' uid 1000 walks through it to the homes below
const prefix = join(dir, "prefix");
const bin = join(prefix, "bin", "berth");
const home = join(dir, "home");
let serve: ReturnType<typeof spawn> | undefined;

async function berth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const r = await run(bin, args, { env: { PATH: process.env.PATH!, BERTH_HOME: home, BERTH_HARNESS_CACHE: HARNESS_CACHE, ...env }, encoding: "utf8", timeout: 180_000 }).catch(
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  return { code: "code" in r ? (r.code as number) : 0, out: r.stdout + r.stderr };
}

beforeAll(async () => {
  mkdirSync(prefix);
  for (const pkg of [REPO, join(REPO, "packages", "client")]) await run("npm", ["pack", "--pack-destination", dir], { cwd: pkg, encoding: "utf8" });
  await run("npm", ["install", "--global", "--prefix", prefix, join(dir, "berth-0.2.0.tgz"), "--no-audit", "--no-fund", "--prefer-offline"], { encoding: "utf8", timeout: 600_000 });
}, 900_000);
afterAll(() => serve?.kill("SIGTERM"));

describe("the packed and installed berth", () => {
  it("ships a license, no source, no test, and the files its hints name", async () => {
    const root = join(prefix, "lib", "node_modules", "berth");
    for (const f of ["LICENSE", "README.md", "CHANGELOG.md", "dist/bundle/berth.mjs", "dist/index.js", "dist/index.d.ts", "scripts/podman-setup.sh", "images/workspace/Containerfile", "conformance/probes.yaml"])
      expect(existsSync(join(root, f)), f).toBe(true);
    for (const f of ["src", "test", "bench", "packages", ".ci"]) expect(existsSync(join(root, f)), f).toBe(false);
    expect(readFileSync(join(root, "LICENSE"), "utf8")).toContain("Apache License");
    // The library entry point: `import { startServer } from "berth"` resolves to a function.
    const entry = await run(process.execPath, ["--input-type=module", "-e", `import("${root}/dist/index.js").then((m) => console.log(typeof m.startServer, typeof m.openapiDocument))`], { encoding: "utf8" });
    expect(entry.stdout.trim()).toBe("function function");
    expect(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports["."]).toEqual({ types: "./dist/index.d.ts", import: "./dist/index.js" });
    // The container tiers' hint, with no engine: the setup script it names is in this install.
    const r = await berth(["conformance", "--tier", "container"], { BERTH_DOCKER_HOST: "unix:///nonexistent/berth.sock" });
    const named = [...r.out.matchAll(/(\/\S+\/(?:scripts|images)\/[\w./-]+)/g)].map((m) => m[1]!);
    expect(named.length, r.out).toBeGreaterThan(0);
    for (const p of named) expect(existsSync(p), p).toBe(true);
    expect(named[0]!.startsWith(root)).toBe(true);
  });

  it("berth run: Pi in T1 on the embedded mock model", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ws-pack-"));
    await run("chown", ["1000:1000", ws]).catch(() => {});
    const r = await berth(["run", "--harness", "pi", "--workspace", ws, "Create hello.txt"]);
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(join(ws, "hello.txt"), "utf8")).toBe("hello from berth\n");
  });

  it("berth conformance --tier process passes", async () => {
    const r = await berth(["conformance", "--tier", "process"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/fork_bomb_contained\s+ok/);
  });

  it("berth serve, and the SDK tarball in an empty project running its README example against it", async () => {
    const token = "brt_pack_" + "p".repeat(32);
    serve = spawn(bin, ["serve", "--port", "0"], { env: { PATH: process.env.PATH!, BERTH_HOME: join(dir, "serve-home"), BERTH_HARNESS_CACHE: HARNESS_CACHE, BERTH_TOKEN: token }, stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    const url = await new Promise<string>((resolve, reject) => {
      serve!.stderr!.on("data", (d) => {
        log += d;
        const m = /berth listening on (\S+)/.exec(log);
        if (m) resolve(m[1]!);
      });
      serve!.once("exit", (c) => reject(new Error(`berth serve exited ${c}: ${log}`)));
    });
    expect((await fetch(`${url}/health`)).status).toBe(200);

    const project = join(dir, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-berth", private: true, type: "module" }));
    await run("npm", ["install", join(dir, "berth-client-0.2.0.tgz"), "--no-audit", "--no-fund", "--prefer-offline"], { cwd: project, encoding: "utf8", timeout: 300_000 });
    expect(JSON.parse(readFileSync(join(project, "node_modules", "berth-client", "package.json"), "utf8")).dependencies).toEqual({ "eventsource-parser": "3.1.1" });
    // The README's first example as written (TypeScript, type-stripped as tsx or any TS runner would).
    const readme = readFileSync(join(project, "node_modules", "berth-client", "README.md"), "utf8");
    const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    writeFileSync(join(project, "example.mts"), example);
    const { stdout: js } = await run(join(REPO, "node_modules", ".bin", "esbuild"), [join(project, "example.mts"), "--format=esm"], { encoding: "utf8" });
    writeFileSync(join(project, "example.mjs"), js);
    const { stdout } = await run(process.execPath, [join(project, "example.mjs")], { cwd: project, env: { PATH: process.env.PATH!, BERTH_URL: url, BERTH_TOKEN: token }, encoding: "utf8", timeout: 120_000 });
    expect(stdout).toMatch(/^tool: .+\nend_turn \d+ in \/ \d+ out\n/);
  });
});
