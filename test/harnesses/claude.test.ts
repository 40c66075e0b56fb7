import { describe, expect, it } from "vitest";
import { claude } from "../../src/harnesses/claude.js";
import { getHarness } from "../../src/harnesses/registry.js";
import type { LaunchContext } from "../../src/harnesses/types.js";

const TOKEN = "bgt_" + "t".repeat(40);
const ctx = (over: Partial<LaunchContext> = {}): LaunchContext => ({
  layout: { workspace: "/workspace", home: "/home/agent", harnessRoot: "/opt/berth/harness", node: "/usr/bin/node" },
  model: "mock-1",
  gatewayUrl: "http://127.0.0.1:4000/anthropic",
  tokenEnv: "BERTH_GATEWAY_TOKEN",
  token: TOKEN,
  ...over,
});

describe("claude harness spec", () => {
  it("is registered, pinned exactly, proprietary and not redistributable", () => {
    expect(getHarness("claude")).toBe(claude);
    for (const p of claude.packages) expect(p.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(claude.packages.map((p) => p.name)).toEqual(["@agentclientprotocol/claude-agent-acp", "@anthropic-ai/claude-agent-sdk"]);
    expect(claude.license).toBe("LicenseRef-Anthropic-Commercial-Terms");
    expect(claude.redistributable).toBe(false);
    expect(claude.api).toBe("anthropic-messages");
    expect(claude.authMethods).toEqual(["api-key", "oauth-subscription"]);
  });

  it("launches the ACP adapter from the read-only harness tree, routed to the gateway with the session token", () => {
    const plan = claude.launch(ctx());
    expect(plan.command).toEqual(["/usr/bin/node", "/opt/berth/harness/node_modules/@agentclientprotocol/claude-agent-acp/dist/index.js"]);
    expect(plan.env).toMatchObject({
      ANTHROPIC_BASE_URL: "http://127.0.0.1:4000/anthropic",
      ANTHROPIC_API_KEY: TOKEN,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_MAX_RETRIES: "2",
    });
    expect(Number(plan.env.API_TIMEOUT_MS)).toBeGreaterThan(0);
    expect(plan.env.IS_SANDBOX).toBeUndefined();
  });

  it("names a non-Anthropic model in every model variable, so no request asks for a Claude model", () => {
    const { env } = claude.launch(ctx({ model: "glm-4.6" }));
    for (const k of [
      "ANTHROPIC_MODEL",
      "ANTHROPIC_SMALL_FAST_MODEL",
      "ANTHROPIC_DEFAULT_OPUS_MODEL",
      "ANTHROPIC_DEFAULT_SONNET_MODEL",
      "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    ])
      expect(env[k]).toBe("glm-4.6");
    expect(env.CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS).toBe("1");
  });

  it("names a claude-* model in every model variable too (the gateway admits the session's model only), betas left on", () => {
    const { env } = claude.launch(ctx({ model: "claude-sonnet-4-5" }));
    expect(env.ANTHROPIC_MODEL).toBe("claude-sonnet-4-5");
    expect(env.ANTHROPIC_SMALL_FAST_MODEL).toBe("claude-sonnet-4-5");
    expect(env.ANTHROPIC_DEFAULT_HAIKU_MODEL).toBe("claude-sonnet-4-5");
    expect(env.CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS).toBeUndefined();
  });

  it("writes settings without credentials, and the system prompt as the user CLAUDE.md", () => {
    const plain = claude.launch(ctx());
    expect(plain.homeFiles.map((f) => f.path)).toEqual([".claude.json", ".claude/settings.json"]);
    expect(JSON.parse(plain.homeFiles[0]!.content)).toEqual({ hasCompletedOnboarding: true });
    const settings = JSON.parse(plain.homeFiles[1]!.content);
    expect(settings.permissions.defaultMode).toBe("default");
    expect(settings.skipWebFetchPreflight).toBe(true);

    const withPrompt = claude.launch(ctx({ systemPrompt: "Answer in French." }));
    expect(withPrompt.homeFiles.find((f) => f.path === ".claude/CLAUDE.md")?.content).toBe("Answer in French.");
    for (const f of withPrompt.homeFiles) expect(f.content).not.toContain(TOKEN);
  });
});
