import type { HarnessSpec } from "./types.js";

const ACP = { name: "@agentclientprotocol/claude-agent-acp", version: "0.49.0" };
const SDK = { name: "@anthropic-ai/claude-agent-sdk", version: "0.3.185" };
const CLAUDE_CODE_VERSION = "2.1.185";

export const claude: HarnessSpec = {
  id: "claude",
  name: "Claude Code",
  version: CLAUDE_CODE_VERSION,
  packages: [ACP, SDK],
  license: "LicenseRef-Anthropic-Commercial-Terms",
  redistributable: false,
  api: "anthropic-messages",
  authMethods: ["api-key", "oauth-subscription"],
  launch({ layout, model, gatewayUrl, token, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const env: Record<string, string> = {
      ANTHROPIC_BASE_URL: gatewayUrl,
      ANTHROPIC_API_KEY: token,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_MAX_RETRIES: "2",
      API_TIMEOUT_MS: "120000",
    };
    if (!/^claude-/.test(model)) {
      for (const k of ["ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL"])
        env[k] = model;
      env.CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS = "1";
    } else env.ANTHROPIC_MODEL = model;
    const homeFiles: { path: string; content: string }[] = [];
    if (systemPrompt) homeFiles.push({ path: ".claude/CLAUDE.md", content: systemPrompt });
    return { command: [layout.node, `${root}/${ACP.name}/dist/index.js`], env, homeFiles };
  },
};
