import { describe, expect, it } from "vitest";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { caught, entry, expectNoSecrets, layout, SECRETS, writeYaml } from "./helpers.js";

describe("missing secret", () => {
  it("names the provider, the model, the secret and the ways to provide it", () => {
    const reg = ProviderRegistry.load({ env: {}, systemFile: "/nonexistent" });
    const e = caught(() => reg.resolve("glm-4.6"));
    expect(e.code).toBe("missing_secret");
    expect(e.details).toMatchObject({ provider: "zai", secret: "ZAI_API_KEY", model: "glm-4.6" });
    for (const s of ["provider 'zai'", "model 'glm-4.6'", "ZAI_API_KEY in berth's environment", "ZAI_API_KEY_FILE", "per-session secret 'ZAI_API_KEY'"])
      expect(e.message).toContain(s);
    expect(e.message).not.toContain("\n");
  });

  it("never falls back to OAuth: it says the token exists and how to choose it", () => {
    const reg = ProviderRegistry.load({ env: { CLAUDE_CODE_OAUTH_TOKEN: SECRETS.CLAUDE_CODE_OAUTH_TOKEN }, systemFile: "/nonexistent" });
    const e = caught(() => reg.resolve("claude-sonnet-4-5", { api: "anthropic-messages" }));
    expect(e.code).toBe("missing_secret");
    expect(e.details.provider).toBe("anthropic");
    expect(e.message).toContain("ANTHROPIC_API_KEY");
    expect(e.message).toContain("provider 'anthropic-oauth' is used only when asked for by id");
    expectNoSecrets(e.message);
  });

  it("never falls back to a lower layer that serves the same model", () => {
    const l = layout();
    writeYaml(l.systemFile, { providers: [entry("corp", ["claude-*"], { auth: { header: "x-api-key", secret: "CORP_KEY" } })] });
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: l.systemFile });
    const e = caught(() => reg.resolve("claude-sonnet-4-5"));
    expect(e.code).toBe("missing_secret");
    expect(e.details).toMatchObject({ provider: "corp", secret: "CORP_KEY" });
    expect(e.message).toContain(l.systemFile);
  });

  it("an unreadable NAME_FILE is a missing secret that names the file", () => {
    const reg = ProviderRegistry.load({ env: { ZAI_API_KEY_FILE: "/nonexistent/zai.key" }, systemFile: "/nonexistent" });
    const e = caught(() => reg.resolve("glm-4.6"));
    expect(e.code).toBe("missing_secret");
    expect(e.message).toContain("ZAI_API_KEY_FILE names /nonexistent/zai.key, which does not exist");
  });
});
