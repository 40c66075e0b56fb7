import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";

const runner = fileURLToPath(new URL("./run-cli.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "berth-mock-cli-"));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ["--import", "tsx", runner, ...args], {
    env: { ...process.env, BERTH_MOCK_REQUIRE_KEY: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function listeningUrl(r: Run): Promise<string> {
  await expect.poll(r.stdout, { timeout: 15_000, interval: 50 }).toMatch(/\n$/);
  const m = /^mock provider listening on (http:\/\/127\.0\.0\.1:\d+) \(script: (.+)\)\n$/.exec(r.stdout());
  expect(m, r.stdout()).not.toBeNull();
  return m![1]!;
}

describe("berth mock-model", () => {
  it("serves the given script, prints one line, and stops cleanly on SIGTERM", async () => {
    const file = join(dir, "s.yaml");
    writeFileSync(file, "models: [cli-model]\nsteps:\n  - text: from the file\n");
    const r = run(["--script", file, "--port", "0"]);
    const url = await listeningUrl(r);
    expect(r.stdout()).toContain(`(script: ${file})`);
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "x", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(((await res.json()) as any).choices[0].message.content).toBe("from the file");
    expect(((await (await fetch(`${url}/v1/models`)).json()) as any).data[0].id).toBe("cli-model");
    r.child.kill("SIGTERM");
    expect(await r.exit).toBe(0);
    expect(r.stdout().split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("uses the built-in script and takes the key from BERTH_MOCK_REQUIRE_KEY", async () => {
    const r = run(["--port", "0"], { BERTH_MOCK_REQUIRE_KEY: "env-key-123" });
    const url = await listeningUrl(r);
    expect(r.stdout()).toContain("(script: built-in)");
    const body = JSON.stringify({ model: "x", messages: [{ role: "user", content: "hi" }], tools: [{ name: "bash", input_schema: {} }] });
    expect((await fetch(`${url}/v1/messages`, { method: "POST", body })).status).toBe(401);
    const ok = await fetch(`${url}/v1/messages`, { method: "POST", body, headers: { "x-api-key": "env-key-123" } });
    expect(((await ok.json()) as any).content[0]).toMatchObject({
      type: "tool_use",
      name: "bash",
      input: { command: "echo 'hello from berth' > hello.txt" },
    });
    r.child.kill("SIGINT");
    expect(await r.exit).toBe(0);
  });

  it("a bad script prints one berth: line and exits 2", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "steps:\n  - tool: { input: {} }\n");
    const r = run(["--script", file, "--port", "0"]);
    expect(await r.exit).toBe(2);
    const lines = r.stderr().split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^berth: invalid mock script .*bad\.yaml: steps\[0\]\.tool\.name: /);
    expect(r.stdout()).toBe("");

    const missing = run(["--script", join(dir, "nope.yaml")]);
    expect(await missing.exit).toBe(2);
    expect(missing.stderr()).toMatch(/^berth: cannot read mock script .*nope\.yaml: no such file\n$/);
  });

  it("rejects a bad --port with exit 2", async () => {
    const r = run(["--port", "http"]);
    expect(await r.exit).toBe(2);
    expect(r.stderr()).toMatch(/^berth: --port must be a number/);
  });
});
