import { describe, expect, it } from "vitest";
import { codex, codexBinary, codexConfig } from "../../src/harnesses/codex.js";
import { getHarness } from "../../src/harnesses/registry.js";
import type { LaunchContext } from "../../src/harnesses/types.js";

const TOKEN = "bgt_" + "t".repeat(40);
const ctx = (over: Partial<LaunchContext> = {}): LaunchContext => ({
  layout: { workspace: "/workspace", home: "/home/agent", harnessRoot: "/opt/berth/harness", node: "/usr/bin/node" },
  model: "mock-1",
  gatewayUrl: "http://127.0.0.1:4000/openai",
  tokenEnv: "BERTH_GATEWAY_TOKEN",
  token: TOKEN,
  ...over,
});

/** `key = value` lines of one TOML table (enough for the flat tables berth writes). */
function table(toml: string, name: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  let current: string | null = null;
  for (const line of toml.split("\n")) {
    const header = /^\[([^\]]+)\]$/.exec(line.trim());
    if (header) current = header[1]!;
    else if (current === name && /^[a-z_]+ = /.test(line)) {
      const i = line.indexOf(" = ");
      out[line.slice(0, i)] = line.slice(i + 3);
    }
  }
  return out;
}

describe("codex harness spec", () => {
  it("is registered, pinned exactly, Apache-2.0 and redistributable, speaking the Responses API", () => {
    expect(getHarness("codex")).toBe(codex);
    expect(codex.packages.map((p) => p.name)).toEqual(["@agentclientprotocol/codex-acp", "@openai/codex"]);
    for (const p of codex.packages) expect(p.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(codex.version).toBe(codex.packages.find((p) => p.name === "@openai/codex")!.version);
    expect(codex.license).toBe("Apache-2.0");
    expect(codex.redistributable).toBe(true);
    expect(codex.api).toBe("openai-responses");
  });

  it("launches codex-acp from the read-only harness tree with a private CODEX_HOME, full-access mode and the native binary", () => {
    const plan = codex.launch(ctx());
    expect(plan.command).toEqual(["/usr/bin/node", "/opt/berth/harness/node_modules/@agentclientprotocol/codex-acp/dist/index.js"]);
    expect(plan.env).toMatchObject({ CODEX_HOME: "/home/agent/.codex", INITIAL_AGENT_MODE: "agent-full-access", NO_BROWSER: "1" });
    if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")) {
      expect(plan.env.CODEX_PATH).toBe(codexBinary("/opt/berth/harness/node_modules"));
      expect(plan.env.CODEX_MANAGED_PACKAGE_ROOT).toBe("/opt/berth/harness/node_modules/@openai/codex");
    }
    // Codex reads the token itself from the variable the config names; nothing else carries it.
    for (const k of ["OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"]) expect(plan.env[k]).toBeUndefined();
  });

  it("routes Codex to the gateway's /v1 through a custom provider that names the token's variable", () => {
    const plan = codex.launch(ctx({ model: "gpt-5.1-codex" }));
    expect(plan.homeFiles.map((f) => f.path)).toEqual([".codex/config.toml"]);
    const toml = plan.homeFiles[0]!.content;
    expect(table(toml, null)).toMatchObject({
      model: '"gpt-5.1-codex"',
      model_provider: '"berth"',
      approval_policy: '"never"',
      sandbox_mode: '"danger-full-access"',
      check_for_update_on_startup: "false",
    });
    expect(table(toml, "model_providers.berth")).toMatchObject({
      base_url: '"http://127.0.0.1:4000/openai/v1"',
      env_key: '"BERTH_GATEWAY_TOKEN"',
      wire_api: '"responses"',
      request_max_retries: "2",
      stream_max_retries: "1",
    });
    expect(table(toml, "analytics").enabled).toBe("false");
    expect(table(toml, "features")).toMatchObject({ shell_snapshot: "false", plugins: "false", unbounded_connection_retries: "false" });
    expect(table(toml, "shell_environment_policy").exclude).toBe('["BERTH_GATEWAY_TOKEN"]');
    expect(toml).not.toContain(TOKEN);
  });

  it("writes the system prompt as the global AGENTS.md, and no file carries the token", () => {
    const plan = codex.launch(ctx({ systemPrompt: "Answer in French." }));
    expect(plan.homeFiles.find((f) => f.path === ".codex/AGENTS.md")?.content).toBe("Answer in French.");
    for (const f of plan.homeFiles) expect(f.content).not.toContain(TOKEN);
    expect(JSON.stringify(plan.env)).not.toContain(TOKEN);
  });

  it("quotes the model and URL as TOML basic strings", () => {
    const toml = codexConfig({ model: 'a"b\\c\n\x7f', baseUrl: "http://h/v1", tokenEnv: "T" });
    const line = toml.split("\n").find((l) => l.startsWith("model = "))!;
    expect(line).toBe('model = "a\\"b\\\\c\\n\\u007f"');
  });

  it("finds the native binary of the npm platform package for the host architecture", () => {
    expect(codexBinary("/nm", "x64")).toBe("/nm/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
    expect(codexBinary("/nm", "arm64")).toBe("/nm/@openai/codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex");
    expect(codexBinary("/nm", "ia32")).toBeUndefined();
  });
});
