import type { HarnessSpec } from "./types.js";

const ACP = { name: "@agentclientprotocol/codex-acp", version: "2.6.0" };
const CODEX = { name: "@openai/codex", version: "0.166.0" };

function tomlString(s: string): string {
  return JSON.stringify(s);
}

export const codex: HarnessSpec = {
  id: "codex",
  name: "OpenAI Codex CLI",
  version: CODEX.version,
  packages: [ACP, CODEX],
  license: "Apache-2.0",
  redistributable: true,
  api: "openai-responses",
  authMethods: ["api-key", "chatgpt-oauth"],
  launch({ layout, model, gatewayUrl, tokenEnv, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const codexHome = `${layout.home}/.codex`;
    const config = [
      `model = ${tomlString(model)}`,
      `model_provider = "berth"`,
      `approval_policy = "never"`,
      `sandbox_mode = "danger-full-access"`,
      `check_for_update_on_startup = false`,
      ``,
      `[model_providers.berth]`,
      `name = "berth gateway"`,
      `base_url = ${tomlString(`${gatewayUrl}/v1`)}`,
      `env_key = ${tomlString(tokenEnv)}`,
      `wire_api = "responses"`,
      `request_max_retries = 2`,
      `stream_max_retries = 2`,
      ``,
      `[analytics]`,
      `enabled = false`,
      ``,
      `[feedback]`,
      `enabled = false`,
      ``,
      `[history]`,
      `persistence = "none"`,
      ``,
    ].join("\n");
    const homeFiles = [{ path: ".codex/config.toml", content: config }];
    if (systemPrompt) homeFiles.push({ path: ".codex/AGENTS.md", content: systemPrompt });
    return {
      command: [layout.node, `${root}/${ACP.name}/dist/index.js`],
      env: {
        CODEX_HOME: codexHome,
        INITIAL_AGENT_MODE: "agent-full-access",
        NO_BROWSER: "1",
      },
      homeFiles,
    };
  },
};
