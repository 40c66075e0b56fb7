import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProviderConfigError, ProviderRegistry } from "../../src/providers/registry.js";
import { caught, entry, layout, writeYaml } from "./helpers.js";

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
