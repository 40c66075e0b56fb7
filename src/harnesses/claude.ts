import type { HarnessSpec } from "./types.js";

// Claude Code (proprietary: Anthropic's Commercial Terms; never baked into an image) through
// its ACP adapter claude-agent-acp (Apache-2.0). claude-agent-acp 0.49.0 is the last adapter
// release that does not declare `engines.node >=22`; berth runs on Node 20. The adapter pins
// the Claude Agent SDK exactly (0.3.185), and the SDK pulls Claude Code 2.1.185 as a native
// binary from its per-platform npm package (@anthropic-ai/claude-agent-sdk-linux-x64 ...), so
// the CLI itself does not depend on the Node version and nothing is fetched from another host.
//
// What the adapter itself reads (dist/acp-agent.js): CLAUDE_CODE_EXECUTABLE (else it resolves
// the SDK's native binary), CLAUDE_CONFIG_DIR (default ~/.claude), ANTHROPIC_MODEL (picks
// the ACP current model), MAX_THINKING_TOKENS, CLAUDE_MODEL_CONFIG, IS_SANDBOX (only to
// allow bypassPermissions as root; not needed, the agent is uid 1000), and the permission
// mode from settings `permissions.defaultMode` (there is no env for it). An extra system
// prompt is only accepted as session/new `_meta.systemPrompt`.
const ACP = { name: "@agentclientprotocol/claude-agent-acp", version: "0.49.0" };
const SDK = { name: "@anthropic-ai/claude-agent-sdk", version: "0.3.185" };
const CLAUDE_CODE = "2.1.185";

/** Every model-name knob Claude Code 2.1 reads (main loop, background "small fast" calls, aliases, subagents). */
const MODEL_ENV = [
  "ANTHROPIC_MODEL",
  "ANTHROPIC_SMALL_FAST_MODEL",
  "ANTHROPIC_DEFAULT_OPUS_MODEL",
  "ANTHROPIC_DEFAULT_SONNET_MODEL",
  "ANTHROPIC_DEFAULT_HAIKU_MODEL",
  "ANTHROPIC_DEFAULT_FABLE_MODEL",
  "CLAUDE_CODE_SUBAGENT_MODEL",
];

export const claude: HarnessSpec = {
  id: "claude",
  name: "Claude Code",
  version: CLAUDE_CODE,
  packages: [ACP, SDK],
  license: "LicenseRef-Anthropic-Commercial-Terms",
  redistributable: false,
  asksPermission: true,
  // Claude Code refuses its bypass-permissions modes as root; berth runs it as uid 1000.
  refusesRoot: true,
  api: "anthropic-messages",
  authMethods: ["api-key", "oauth-subscription"],
  skillsDir: ".claude/skills",
  launch({ layout, model, gatewayUrl, token, systemPrompt }) {
    const root = `${layout.harnessRoot}/node_modules`;
    const env: Record<string, string> = {
      // All model traffic goes to berth's gateway with the per-session token (x-api-key).
      ANTHROPIC_BASE_URL: gatewayUrl,
      ANTHROPIC_API_KEY: token,
      // No telemetry, error reporting, feature-flag fetches, update checks or side requests
      // (verified: without these Claude Code resolves api.anthropic.com and makes an extra
      // model call per turn; with them its only connections are to the gateway).
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      // Fail fast: Claude Code's defaults are 10 retries with backoff and a 10-minute timeout.
      CLAUDE_CODE_MAX_RETRIES: "2",
      API_TIMEOUT_MS: "300000",
    };
    // Every request, background ("small fast") ones included, names the session's model:
    // the gateway admits no other (gateway/routes.ts, the model pin).
    for (const k of MODEL_ENV) env[k] = model;
    // Another provider's model: Anthropic-only beta headers/fields (context management ...) stay off.
    if (!/^claude-/.test(model)) env.CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS = "1";
    // Claude Code's own state file: driven through the SDK it needs no onboarding, but on
    // a missing file its first config save fails ("Failed to save config with lock: ENOENT")
    // before it recreates it; seeding it keeps first start clean. No credentials in it.
    const state = { hasCompletedOnboarding: true };
    // User settings (no credentials either).
    const settings = {
      // Tools that change things ask the ACP client, i.e. berth's permission policy decides
      // (pinned, so a changed upstream default such as "auto" mode cannot bypass it).
      permissions: { defaultMode: "default" },
      // WebFetch otherwise asks https://api.anthropic.com/api/web/domain_info about every
      // domain, directly, around the gateway (and fails when that host is unreachable).
      skipWebFetchPreflight: true,
    };
    const homeFiles = [
      { path: ".claude.json", content: JSON.stringify(state, null, 2) },
      { path: ".claude/settings.json", content: JSON.stringify(settings, null, 2) },
    ];
    // claude-agent-acp only takes an extra system prompt through session/new `_meta`; the
    // user memory file is the equivalent Claude Code loads for every session (settingSources
    // includes "user"), sent to the model as user instructions.
    if (systemPrompt) homeFiles.push({ path: ".claude/CLAUDE.md", content: systemPrompt });
    // Managed (enterprise) settings outrank user, project and local settings: a workspace's
    // .claude/settings.local.json cannot switch on bypassPermissions and route around
    // berth's permission policy. Read-only inside the sandbox.
    const managed = { permissions: { defaultMode: "default", disableBypassPermissionsMode: "disable" } };
    return {
      // The adapter finds the native binary itself (CLAUDE_CODE_EXECUTABLE would override it).
      command: [layout.node, `${root}/${ACP.name}/dist/index.js`],
      env,
      homeFiles,
      systemFiles: [{ path: "/etc/claude-code/managed-settings.json", content: JSON.stringify(managed, null, 2) }],
    };
  },
};
