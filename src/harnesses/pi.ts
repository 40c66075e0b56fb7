import type { HarnessSpec } from "./types.js";

// Pi (MIT) through its ACP adapter pi-acp. pi-acp 0.0.24 is the last adapter release
// that speaks to pi 0.73 (the last pi that runs on Node 20); later adapters call RPC
// commands this pi lacks and hang in session/new.
const PI_ACP = { name: "pi-acp", version: "0.0.24" };
const PI = { name: "@mariozechner/pi-coding-agent", version: "0.73.1" };

export const pi: HarnessSpec = {
  id: "pi",
  name: "Pi coding agent",
  version: PI.version,
  packages: [PI_ACP, PI],
  license: "MIT",
  redistributable: true,
  // pi-acp runs Pi's tools without asking the client.
  asksPermission: false,
  api: "anthropic-messages",
  authMethods: ["api-key"],
  skillsDir: ".pi/agent/skills",
  launch({ layout, model, gatewayUrl, tokenEnv, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const agentDir = `${layout.home}/.pi/agent`;
    // models.json names the env var, not the token, so the token is in no file.
    const models = {
      providers: {
        berth: { baseUrl: gatewayUrl, api: "anthropic-messages", apiKey: tokenEnv, models: [{ id: model }] },
      },
    };
    const settings = { defaultProvider: "berth", defaultModel: model, quietStartup: true };
    const homeFiles = [
      { path: ".pi/agent/models.json", content: JSON.stringify(models, null, 2) },
      { path: ".pi/agent/settings.json", content: JSON.stringify(settings, null, 2) },
    ];
    if (systemPrompt) homeFiles.push({ path: ".pi/agent/AGENTS.md", content: systemPrompt });
    return {
      command: [layout.node, `${root}/pi-acp/dist/index.js`],
      env: {
        PI_CODING_AGENT_DIR: agentDir,
        // pi is not on PATH on purpose: pi-acp then skips its per-session `pi --version`
        // and `npm view` update probes, which cost seconds and want the network.
        PI_ACP_PI_COMMAND: `${root}/.bin/pi`,
        PI_OFFLINE: "1",
        PI_SKIP_VERSION_CHECK: "1",
        PI_TELEMETRY: "0",
      },
      homeFiles,
    };
  },
};
