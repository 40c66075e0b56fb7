import { afterEach, describe, expect, it, vi } from "vitest";
import { UsageError } from "../../src/cli/common.js";
import { providersCommand } from "../../src/cli/providers.js";
import { entry, layout, SECRETS, writeYaml } from "./helpers.js";

async function run(args: string[], env: Record<string, string | undefined>): Promise<{ out: string; error?: Error }> {
  for (const k of [...Object.keys(SECRETS), "BERTH_PROVIDERS", "CLAUDE_CODE_OAUTH_TOKEN"]) vi.stubEnv(k, undefined);
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: any) => {
    out += String(chunk);
    return true;
  });
  try {
    await providersCommand().exitOverride().parseAsync(args, { from: "user" });
    return { out };
  } catch (e) {
    return { out, error: e as Error };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("berth providers", () => {
  it("ls: id, API, base URL, models, secret name and presence, source; never a value", async () => {
    const l = layout();
    writeYaml(l.systemFile, { providers: [{ ...entry("corp", ["corp-*"]), aliases: { c: "corp-1" } }] });
    const { out, error } = await run(["ls", "--system-file", l.systemFile], { ZAI_API_KEY: SECRETS.ZAI_API_KEY, LAYER_KEY: SECRETS.LAYER_KEY });
    expect(error).toBeUndefined();
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^ID\s+API\s+BASE URL\s+MODELS\s+SECRET\s+SOURCE$/);
    expect(lines[1]).toMatch(new RegExp(`^corp\\s+anthropic-messages\\s+https://corp.example.test/api\\s+corp-\\* c→corp-1\\s+LAYER_KEY \\(present\\)\\s+${l.systemFile}$`));
    expect(out).toMatch(/\nzai\s+anthropic-messages\s+https:\/\/api\.z\.ai\/api\/anthropic\s+glm-\*\s+ZAI_API_KEY \(present\)\s+built-in\n/);
    expect(out).toMatch(/\nanthropic\s.*ANTHROPIC_API_KEY \(missing\)\s+built-in\n/);
    expect(out).toMatch(/\nanthropic-oauth \(explicit\)\s/);
    expect(out).toContain(`searched: $BERTH_PROVIDERS (unset), ${l.systemFile}, built-ins`);
    for (const v of Object.values(SECRETS)) expect(out).not.toContain(v);
  });

  it("ls --json", async () => {
    const l = layout();
    const { out } = await run(["ls", "--json", "--system-file", l.systemFile], {});
    const j = JSON.parse(out);
    expect(j.providers.find((p: any) => p.id === "openai")).toMatchObject({ apis: ["openai-responses", "openai-chat"], secret: "OPENAI_API_KEY", secretPresent: false });
    expect(j.files.map((f: any) => f.layer)).toEqual(["env", "system", "built-in"]);
  });

  it("resolve: the route and where it came from, without the secret's value", async () => {
    const l = layout();
    writeYaml(l.envFile, {
      providers: [{ ...entry("zai", ["glm-*"]), auth: { header: "authorization", secret: "ZAI_API_KEY" }, aliases: { glm: "glm-4.6" }, headers: { "x-extra": "v" }, prices: { "glm-4.6": { input: 0.6, output: 2.2 } } }],
    });
    const { out, error } = await run(["resolve", "glm", "--api", "anthropic-messages", "--system-file", l.systemFile], {
      BERTH_PROVIDERS: l.envFile,
      ZAI_API_KEY: SECRETS.ZAI_API_KEY,
    });
    expect(error).toBeUndefined();
    expect(out).toContain("model     glm (alias; 'glm-4.6' is sent upstream)");
    expect(out).toMatch(/provider\s+zai\n/);
    expect(out).toMatch(/base URL\s+https:\/\/zai\.example\.test\/api\n/);
    expect(out).toMatch(/auth\s+authorization: Bearer <ZAI_API_KEY, from \$ZAI_API_KEY>\n/);
    expect(out).toMatch(/header\s+x-extra: v\n/);
    expect(out).toMatch(/price\s+input \$0\.6\/M, output \$2\.2\/M\n/);
    expect(out).toMatch(new RegExp(`source\\s+${l.envFile}\\n`));
    expect(out).not.toContain(SECRETS.ZAI_API_KEY);

    const j = JSON.parse((await run(["resolve", "glm", "--json", "--system-file", l.systemFile], { BERTH_PROVIDERS: l.envFile, ZAI_API_KEY: SECRETS.ZAI_API_KEY })).out);
    expect(j).toMatchObject({ provider: "zai", model: "glm-4.6", requestedModel: "glm", authHeader: "authorization", source: l.envFile });
    expect(JSON.stringify(j)).not.toContain(SECRETS.ZAI_API_KEY);
  });

  it("resolve errors are one-line usage errors (exit 2): unknown model, missing secret, API mismatch", async () => {
    const l = layout();
    const cases: [string[], RegExp][] = [
      [["resolve", "nope-1"], /^no provider matches model 'nope-1'; searched: \$BERTH_PROVIDERS \(unset\), .* \(not found\), built-ins$/],
      [["resolve", "glm-4.6"], /needs secret ZAI_API_KEY, which is not set; .*ZAI_API_KEY_FILE/],
      [["resolve", "claude-sonnet-4-5", "--api", "openai-responses"], /speaks anthropic-messages, not openai-responses/],
    ];
    for (const [args, msg] of cases) {
      const { error, out } = await run([...args, "--system-file", l.systemFile], {});
      expect(error).toBeInstanceOf(UsageError);
      expect(error!.message).toMatch(msg);
      expect(error!.message).not.toContain("\n");
      expect(out).toBe("");
    }
  });

  it("a bad providers file is a one-line usage error naming the file and field", async () => {
    const l = layout();
    writeYaml(l.systemFile, { providers: [{ ...entry("x", ["a"]), auth: { header: "x-api-key", secret: "bad name" } }] });
    const { error } = await run(["ls", "--system-file", l.systemFile], {});
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toContain(`${l.systemFile}: providers[0] (id 'x').auth.secret: `);
  });

  it("resolve mock-*: berth's own mock model, whose address only the server knows", async () => {
    const l = layout();
    const { out, error } = await run(["resolve", "mock-1", "--system-file", l.systemFile], {});
    expect(error).toBeUndefined();
    expect(out).toContain("provider  mock (berth's scripted mock model");
  });

  it("--workspace takes part only with --allow-workspace", async () => {
    const l = layout();
    writeYaml(l.workspaceFile, { providers: [entry("ws", ["ws-*"], { auth: "none" })] });
    const off = await run(["resolve", "ws-1", "--workspace", l.workspace, "--system-file", l.systemFile], {});
    expect(off.error?.message).toContain(`${l.workspaceFile} (workspace overrides off)`);
    const on = await run(["resolve", "ws-1", "--workspace", l.workspace, "--allow-workspace", "--system-file", l.systemFile], {});
    expect(on.out).toMatch(new RegExp(`source\\s+${l.workspaceFile}`));
  });
});
