import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { HarnessSpec } from "./types.js";

// OpenCode (MIT), which speaks ACP itself (`opencode acp`). opencode-ai is a launcher whose
// real program is a self-contained Bun binary in a per-platform npm package
// (opencode-linux-x64, -baseline, -musl, -arm64 ...), pulled in as optional dependencies.
// Its postinstall only copies that binary over bin/opencode.exe (a stub that says so); berth
// installs with --ignore-scripts, so it starts the platform package's binary directly. The
// binary embeds its own runtime, so Node's version does not matter, and nothing is fetched
// from any other host.
const OPENCODE = { name: "opencode-ai", version: "1.18.33" };

/** CPU has AVX2 (else OpenCode's "baseline" x64 build is the one that runs). */
function hasAvx2(): boolean {
  try {
    return /(^|\s)avx2(\s|$)/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
}

/**
 * The OpenCode binary inside an install's node_modules, for this host (the harness tree is
 * installed here), chosen as opencode-ai's postinstall would: x64 without AVX2 gets the
 * baseline build; Alpine (musl) gets the musl build.
 */
export function opencodeBinary(
  nodeModules: string,
  host: { arch?: string; avx2?: boolean; musl?: boolean } = {},
): string | undefined {
  const arch = host.arch ?? process.arch;
  if (arch !== "x64" && arch !== "arm64") return undefined;
  const musl = host.musl ?? isMusl();
  const baseline = arch === "x64" && !(host.avx2 ?? hasAvx2());
  const pkg = `opencode-linux-${arch}${baseline ? "-baseline" : ""}${musl ? "-musl" : ""}`;
  return `${nodeModules}/${pkg}/bin/opencode`;
}

function isMusl(): boolean {
  try {
    return readFileSync("/etc/os-release", "utf8").includes("ID=alpine");
  } catch {
    return false;
  }
}

/**
 * `~/.config/opencode/opencode.json`: one provider, berth's gateway, speaking the Anthropic
 * Messages API through OpenCode's bundled @ai-sdk/anthropic (bundled: nothing is installed
 * for it). `{env:...}` is OpenCode's own substitution, so the token is in no file.
 */
export function opencodeConfig(o: { model: string; baseUrl: string; tokenEnv: string }): Record<string, unknown> {
  return {
    $schema: "https://opencode.ai/config.json",
    provider: {
      berth: {
        npm: "@ai-sdk/anthropic",
        name: "berth gateway",
        options: { baseURL: o.baseUrl, apiKey: `{env:${o.tokenEnv}}` },
        models: { [o.model]: { name: o.model } },
      },
    },
    // Only berth's provider: OpenCode's built-in ones would read keys from the environment.
    enabled_providers: ["berth"],
    model: `berth/${o.model}`,
    // Session titles and other background calls use the same model, through the gateway.
    small_model: `berth/${o.model}`,
    autoupdate: false,
    share: "disabled",
    // OpenCode's undo snapshots (a shadow git repository of the workspace): ACP has no
    // revert, and on a big workspace they cost a full copy.
    snapshot: false,
    // Tools that change things ask the ACP client, i.e. berth's permission policy decides.
    // OpenCode's default is to allow them all without asking.
    permission: { edit: "ask", bash: "ask", webfetch: "ask" },
  };
}

/**
 * For every config directory, OpenCode installs @opencode-ai/plugin from the npm registry in
 * the background at start (for user-written plugins and tools, which berth sessions do not
 * have) unless the directory already has node_modules and a lockfile naming every
 * dependency. These three files say it has, so a session start makes no registry request.
 */
const PLUGIN_DEPS_SEED = [
  { path: ".config/opencode/package.json", content: JSON.stringify({ private: true, dependencies: {} }, null, 2) },
  {
    path: ".config/opencode/package-lock.json",
    content: JSON.stringify({ lockfileVersion: 3, requires: true, packages: { "": { dependencies: { "@opencode-ai/plugin": OPENCODE.version } } } }, null, 2),
  },
  { path: ".config/opencode/node_modules/.berth", content: "Seeded by berth: no plugin dependencies are installed in a session.\n" },
];

export const opencode: HarnessSpec = {
  id: "opencode",
  name: "OpenCode",
  version: OPENCODE.version,
  packages: [OPENCODE],
  // opencode-ai and its platform packages (the binary embeds the Bun runtime, MIT too).
  license: "MIT",
  redistributable: true,
  asksPermission: true,
  api: "anthropic-messages",
  // Provider API keys (any of its providers), and OAuth sign-ins for some (Anthropic,
  // GitHub Copilot, OpenCode Zen); berth uses one custom provider pointing at its gateway.
  authMethods: ["api-key", "oauth"],
  skillsDir: ".config/opencode/skills",
  launch({ layout, model, gatewayUrl, tokenEnv, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const bin = opencodeBinary(root);
    if (!bin) throw new Error(`OpenCode has no build for ${process.platform}/${process.arch} in its npm packages`);
    const homeFiles = [
      {
        path: ".config/opencode/opencode.json",
        content: JSON.stringify(opencodeConfig({ model, baseUrl: `${gatewayUrl}/v1`, tokenEnv }), null, 2),
      },
      ...PLUGIN_DEPS_SEED,
    ];
    // The global rules file, loaded into every session's system prompt.
    if (systemPrompt) homeFiles.push({ path: ".config/opencode/AGENTS.md", content: systemPrompt });
    return {
      command: [bin, "acp"],
      env: {
        // `opencode acp` serves its own HTTP API on 127.0.0.1 (port 4096, else a free one) and
        // drives it over loopback. In a sandbox with its own network namespace that loopback
        // is private; where the host's network is shared (tier host), any local process could
        // drive the agent without a password. Its own client sends this one.
        OPENCODE_SERVER_PASSWORD: randomBytes(24).toString("base64url"),
        // models.dev catalogue fetch, self-update, LSP server downloads: all network, all off.
        OPENCODE_DISABLE_MODELS_FETCH: "1",
        OPENCODE_DISABLE_AUTOUPDATE: "1",
        OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
        OPENCODE_DISABLE_SHARE: "1",
        // Built-in auth plugins (Copilot, Codex, ...) for providers berth does not use.
        OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
        // Claude Code's files (~/.claude/CLAUDE.md, skills) are not OpenCode's instructions.
        OPENCODE_DISABLE_CLAUDE_CODE: "1",
      },
      homeFiles,
    };
  },
};
