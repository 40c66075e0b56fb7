import { describe, expect, it } from "vitest";
import { ProviderRegistry, ProviderResolutionError } from "../../src/providers/registry.js";
import { caught, entry, expectNoSecrets, layout, SECRETS, writeYaml } from "./helpers.js";

describe("unknown model", () => {
  it("names every layer searched and why each was or was not used", () => {
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: "/etc/berth/providers.yaml.test-absent", workspace: "/w" });
    const e = caught(() => reg.resolve("x"));
    expect(e).toBeInstanceOf(ProviderResolutionError);
    expect(e.code).toBe("unknown_model");
    expect(e.status).toBe(400);
    expect(e.message).toBe(
      "no provider matches model 'x'; searched: $BERTH_PROVIDERS (unset), /etc/berth/providers.yaml.test-absent (not found), /w/.berth/providers.yaml (workspace overrides off), built-ins",
    );
    expect(e.details).toMatchObject({ model: "x", searched: expect.arrayContaining(["built-ins"]) });
    expectNoSecrets(e.message);
  });

  it("names the files that were read", () => {
    const l = layout();
    writeYaml(l.envFile, { providers: [entry("a", ["a-*"])] });
    writeYaml(l.systemFile, { providers: [entry("b", ["b-*"])] });
    const reg = ProviderRegistry.load({ env: { BERTH_PROVIDERS: l.envFile }, systemFile: l.systemFile, workspace: l.workspace, allowWorkspace: true });
    expect(caught(() => reg.resolve("nope-1")).message).toBe(
      `no provider matches model 'nope-1'; searched: ${l.envFile} ($BERTH_PROVIDERS), ${l.systemFile}, ${l.workspaceFile} (not found), built-ins`,
    );
  });

  it("names that are Object.prototype properties are just unknown models", () => {
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: "/nonexistent" });
    for (const m of ["constructor", "toString", "__proto__"]) expect(caught(() => reg.resolve(m)).code).toBe("unknown_model");
  });

  it("an unknown provider id, and a provider asked for that does not serve the model, are errors too", () => {
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: "/nonexistent" });
    expect(caught(() => reg.resolve("claude-sonnet-4-5", { provider: "nope" })).code).toBe("unknown_provider");
    const e = caught(() => reg.resolve("gpt-5", { provider: "anthropic-oauth" }));
    expect(e.code).toBe("unknown_model");
    expect(e.message).toContain("provider 'anthropic-oauth' (built-in) does not serve model 'gpt-5'");
  });
});

describe("api mismatch", () => {
  it("names the provider that serves the model and the API it speaks", () => {
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: "/nonexistent" });
    const e = caught(() => reg.resolve("claude-sonnet-4-5", { api: "openai-responses" }));
    expect(e.code).toBe("api_mismatch");
    expect(e.message).toContain("provider 'anthropic' (built-in), which speaks anthropic-messages, not openai-responses");
    expect(caught(() => reg.resolve("gpt-5", { api: "anthropic-messages" })).code).toBe("api_mismatch");
    // openrouter speaks both families.
    expect(reg.resolve("openai/gpt-5", { api: "anthropic-messages" }).provider).toBe("openrouter");
  });
});

describe("secret values stay out of messages and listings", () => {
  it("list() names secrets and whether they are present, never their values", () => {
    const l = layout();
    writeYaml(l.systemFile, { providers: [entry("layer", ["l-*"])] });
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: l.systemFile, mockUrl: "http://127.0.0.1:1" });
    const listed = reg.list();
    expectNoSecrets(JSON.stringify(listed));
    expect(listed.find((p) => p.id === "layer")).toMatchObject({ secret: "LAYER_KEY", secretPresent: true, source: l.systemFile });
    expect(listed.find((p) => p.id === "mock")).toMatchObject({ secret: undefined, secretPresent: true });
    const bare = ProviderRegistry.load({ env: {}, systemFile: "/nonexistent" }).list();
    expect(bare.find((p) => p.id === "zai")).toMatchObject({ secret: "ZAI_API_KEY", secretPresent: false });
  });

  it("no resolution error carries a secret value, whatever its kind", () => {
    const l = layout();
    writeYaml(l.workspaceFile, { providers: [entry("ws", ["ws-*"], { auth: { header: "x-api-key", secret: "ANTHROPIC_API_KEY" } })] });
    const reg = ProviderRegistry.load({ env: { ...SECRETS }, systemFile: l.systemFile, workspace: l.workspace, allowWorkspace: true });
    const errors = [
      caught(() => reg.resolve("unknown-model")),
      caught(() => reg.resolve("claude-x", { api: "openai-chat" })),
      caught(() => reg.resolve("ws-1")),
      caught(() => reg.resolve("mock-1")),
      caught(() => ProviderRegistry.load({ env: {}, systemFile: "/nonexistent" }).resolve("glm-4.6", { secrets: new Map([["OTHER", SECRETS.LAYER_KEY]]) })),
    ];
    expect(errors.map((e) => e.code)).toEqual(["unknown_model", "api_mismatch", "secret_not_allowed", "provider_unavailable", "missing_secret"]);
    for (const e of errors) expectNoSecrets(e.message + JSON.stringify(e.details));
  });
});
