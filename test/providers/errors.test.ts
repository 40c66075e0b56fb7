import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProviderConfigError, ProviderRegistry, ProviderResolutionError } from "../../src/providers/registry.js";
import { entry, layout, SECRETS, writeYaml } from "./helpers.js";

function caught(f: () => unknown): any {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

const ALL_SECRET_VALUES = Object.values(SECRETS);
function expectNoSecrets(text: string) {
  for (const v of ALL_SECRET_VALUES) expect(text).not.toContain(v);
}

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

describe("bad providers files", () => {
  const load = (text: unknown, opts: { layer?: "env" | "system" | "workspace" } = {}) => {
    const l = layout();
    const file = opts.layer === "env" ? l.envFile : opts.layer === "workspace" ? l.workspaceFile : l.systemFile;
    writeYaml(file, text);
    const e = caught(() =>
      ProviderRegistry.load({ env: opts.layer === "env" ? { BERTH_PROVIDERS: file } : {}, systemFile: l.systemFile, workspace: l.workspace, allowWorkspace: true }),
    );
    return { e, file };
  };

  it("invalid YAML names the file and the line", () => {
    const { e, file } = load("providers:\n  - id: x\n    models: [a\n  - id: y\n");
    expect(e).toBeInstanceOf(ProviderConfigError);
    expect(e.file).toBe(file);
    expect(e.message).toMatch(new RegExp(`^${file}: line \\d+, column \\d+: invalid YAML: `));
    expect(e.message).not.toContain("\n");
  });

  it("a schema error names the file and the field, with the provider's id", () => {
    const { e, file } = load({ providers: [entry("ok", ["a-*"]), { ...entry("zai", ["glm-*"]), auth: { header: "x-api-key", secret: "not a name" } }] });
    expect(e.file).toBe(file);
    expect(e.field).toBe("providers[1] (id 'zai').auth.secret");
    expect(e.message).toContain(`${file}: providers[1] (id 'zai').auth.secret: must be an environment-variable name`);
    expect(e.status).toBe(500);
  });

  it.each([
    [{ providers: [{ ...entry("x", ["a"]), baseURL: "https://x" }] }, "providers[0] (id 'x')", /baseURL/],
    [{ providers: [{ ...entry("x", ["a"]), api: "anthropic" }] }, "providers[0] (id 'x').api", /anthropic-messages/],
    [{ providers: [{ ...entry("x", ["a"]), baseUrl: "ftp://x" }] }, "providers[0] (id 'x').baseUrl", /http\(s\) URL/],
    [{ providers: [{ ...entry("x", []) }] }, "providers[0] (id 'x').models", /./],
    [{ providers: [{ ...entry("x", ["a"]), headers: { authorization: "Bearer literal" } }] }, "providers[0] (id 'x').headers.authorization", /credentials go in `auth`/],
    [{ providers: [{ ...entry("x", ["a"]), apis: ["openai-chat"] }] }, "providers[0] (id 'x').apis", /must include `api`/],
    [{ providers: [{ ...entry("x", ["a"]), prices: { a: { input: -1, output: 1 } } }] }, "providers[0] (id 'x').prices.a.input", /./],
    [{ providers: [entry("x", ["a"]), entry("x", ["b"])] }, "providers[1].id", /defined twice/],
    [{ provider: [] }, "providers", /expected array/],
    [[1, 2], "(top level)", /expected object/],
  ])("schema error %#: %s", (doc, field, detail) => {
    const { e, file } = load(doc);
    expect(e).toBeInstanceOf(ProviderConfigError);
    expect(e.file).toBe(file);
    expect(e.field).toBe(field);
    expect(e.message.startsWith(`${file}: ${field}: `)).toBe(true);
    expect(e.message).toMatch(detail);
  });

  it("a broken workspace file is the client's fault (400); the operator's files are the server's (500)", () => {
    expect(load({ providers: [{ id: "x" }] }, { layer: "workspace" }).e.status).toBe(400);
    expect(load({ providers: [{ id: "x" }] }, { layer: "env" }).e.status).toBe(500);
  });

  it("$BERTH_PROVIDERS naming a missing file is an error, not an absence", () => {
    const l = layout();
    const missing = join(l.root, "missing.yaml");
    const e = caught(() => ProviderRegistry.load({ env: { BERTH_PROVIDERS: missing }, systemFile: l.systemFile }));
    expect(e).toBeInstanceOf(ProviderConfigError);
    expect(e.message).toBe(`${missing}: named by $BERTH_PROVIDERS but does not exist`);
  });

  it("an empty file defines nothing and is fine", () => {
    const l = layout();
    writeYaml(l.systemFile, "");
    expect(ProviderRegistry.load({ env: {}, systemFile: l.systemFile }).files()[1]).toMatchObject({ used: true });
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
