import type { HarnessSpec } from "./types.js";

// Google's Gemini CLI (Apache-2.0), which speaks ACP itself (`gemini --acp`; before 0.3x
// the flag was --experimental-acp, still accepted as a deprecated alias). 0.61.0 declares
// `engines.node >=20` and runs on Node 20. It is one esbuild bundle (bundle/gemini.js plus
// chunks); its optional native modules (node-pty, keytar) are for the interactive terminal
// UI and the OS keychain, which ACP mode does not use, and nothing is downloaded at start.
const GEMINI = { name: "@google/gemini-cli", version: "0.61.0" };

/**
 * `~/.gemini/settings.json` (no credentials). The model is pinned, so Gemini CLI's router
 * does not pick Pro/Flash per request; auth is its "gateway" type: the Gemini API at
 * GOOGLE_GEMINI_BASE_URL with the key from GEMINI_API_KEY (sent as x-goog-api-key).
 */
export function geminiSettings(model: string, tokenEnv: string): Record<string, unknown> {
  return {
    security: {
      auth: { selectedType: "gateway" },
      // No "do you trust this folder?" step: berth's sandbox is the trust boundary.
      folderTrust: { enabled: false },
      // Commands the agent runs (shell, MCP servers, hooks) get an environment without the
      // gateway token, and without anything else named like a secret (*KEY*, *TOKEN* ...).
      environmentVariableRedaction: { enabled: true, blocked: [tokenEnv, "GEMINI_API_KEY"] },
    },
    model: { name: model },
    general: {
      enableAutoUpdate: false,
      enableAutoUpdateNotification: false,
      checkpointing: { enabled: false },
    },
    // Usage statistics go to Google's Clearcut endpoint directly, around the gateway.
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    ide: { enabled: false, hasSeenNudge: true },
    // Otherwise the CLI re-executes itself with a bigger heap: one more Node process.
    advanced: { autoConfigureMemory: false },
  };
}

export const gemini: HarnessSpec = {
  id: "gemini",
  name: "Gemini CLI",
  version: GEMINI.version,
  packages: [GEMINI],
  license: "Apache-2.0",
  redistributable: true,
  asksPermission: true,
  api: "google-generative-ai",
  // Gemini API key, Google sign-in (Code Assist, OAuth), Vertex AI (API key or ADC), and a
  // gateway (custom base URL); berth uses the last.
  authMethods: ["api-key", "google-oauth", "vertex-ai", "gateway"],
  skillsDir: ".gemini/skills",
  launch({ layout, model, gatewayUrl, token, tokenEnv, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const homeFiles = [{ path: ".gemini/settings.json", content: JSON.stringify(geminiSettings(model, tokenEnv), null, 2) }];
    // The global context file, loaded into every session's system instruction.
    if (systemPrompt) homeFiles.push({ path: ".gemini/GEMINI.md", content: systemPrompt });
    return {
      command: [layout.node, `${root}/${GEMINI.name}/bundle/gemini.js`, "--acp"],
      env: {
        // All model traffic to berth's gateway, with the per-session token (Gemini CLI reads
        // the key only from this variable).
        GOOGLE_GEMINI_BASE_URL: gatewayUrl,
        GEMINI_API_KEY: token,
        GEMINI_CLI_NO_RELAUNCH: "true",
        // No browser-based sign-in from a sandbox.
        NO_BROWSER: "true",
      },
      homeFiles,
    };
  },
};
