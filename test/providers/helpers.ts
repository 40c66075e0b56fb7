import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { afterEach, expect } from "vitest";

/** What `f` throws; a test fails when it throws nothing. */
export function caught(f: () => unknown): any {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

/** Temp directories removed after each test. */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-providers-"));
  dirs.push(d);
  return d;
}

/** Writes `content` (an object → YAML, or raw text) to `path`, creating parents. */
export function writeYaml(path: string, content: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof content === "string" ? content : stringify(content));
  return path;
}

/** A layout with a place for each layer; no file exists until written. */
export function layout() {
  const root = tempDir();
  const workspace = join(root, "ws");
  mkdirSync(workspace);
  return {
    root,
    workspace,
    envFile: join(root, "env-providers.yaml"),
    systemFile: join(root, "etc", "providers.yaml"),
    workspaceFile: join(workspace, ".berth", "providers.yaml"),
  };
}

/** One provider entry serving `models`, at a recognisable base URL. */
export function entry(id: string, models: string[], extra: Record<string, unknown> = {}) {
  return {
    id,
    api: "anthropic-messages",
    baseUrl: `https://${id}.example.test/api`,
    auth: { header: "x-api-key", secret: "LAYER_KEY" },
    models,
    ...extra,
  };
}

// Credential-shaped values the tests hunt for in messages and listings.
export const SECRETS = {
  ANTHROPIC_API_KEY: "ant-secret-value-0001",
  CLAUDE_CODE_OAUTH_TOKEN: "oauth-secret-value-0002",
  OPENAI_API_KEY: "oai-secret-value-0003",
  OPENROUTER_API_KEY: "or-secret-value-0004",
  MINIMAX_API_KEY: "mm-secret-value-0005",
  ZAI_API_KEY: "zai-secret-value-0006",
  MOONSHOT_API_KEY: "ms-secret-value-0007",
  DEEPSEEK_API_KEY: "ds-secret-value-0008",
  GEMINI_API_KEY: "gem-secret-value-0010",
  LAYER_KEY: "layer-secret-value-0009",
} as const;

/** Fails when `text` carries any of SECRETS' values. */
export function expectNoSecrets(text: string): void {
  for (const v of Object.values(SECRETS)) expect(text).not.toContain(v);
}
