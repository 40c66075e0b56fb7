import type { ProviderInput } from "./schema.js";

// The built-in providers: the last layer, used when no providers file matches a model.
// Each entry is written in the same shape as a providers.yaml entry and goes through the
// same validation. Base URLs are the prefix the gateway appends the harness's path to
// (`/v1/messages`, `/v1/chat/completions`, `/v1/responses`), i.e. what a client would put
// in ANTHROPIC_BASE_URL / an OpenAI base URL without its `/v1`. Where each address and
// header comes from: docs/providers.md.

/** Provider id of berth's own scripted mock model; its base URL is known only at run time. */
export const MOCK_PROVIDER_ID = "mock";

export const BUILTIN_PROVIDERS: readonly ProviderInput[] = [
  {
    id: "anthropic",
    api: "anthropic-messages",
    baseUrl: "https://api.anthropic.com",
    auth: { header: "x-api-key", scheme: "", secret: "ANTHROPIC_API_KEY" },
    models: ["claude-*"],
  },
  {
    // Self-hosted subscription use (an individual's own Claude plan): the OAuth token
    // goes upstream as the bearer. Chosen only by name, never as a fallback for a
    // missing ANTHROPIC_API_KEY.
    id: "anthropic-oauth",
    api: "anthropic-messages",
    baseUrl: "https://api.anthropic.com",
    auth: { header: "authorization", scheme: "Bearer", secret: "CLAUDE_CODE_OAUTH_TOKEN" },
    headers: { "anthropic-beta": "oauth-2025-04-20" },
    models: ["claude-*"],
    explicitOnly: true,
  },
  {
    id: "openai",
    api: "openai-responses",
    apis: ["openai-responses", "openai-chat"],
    baseUrl: "https://api.openai.com",
    auth: { header: "authorization", scheme: "Bearer", secret: "OPENAI_API_KEY" },
    models: ["gpt-*", "o1*", "o3*", "o4*", "codex-*"],
  },
  {
    // OpenRouter model ids are vendor/model ("anthropic/claude-sonnet-4"). Its OpenAI
    // API lives at /api/v1 and its Anthropic-compatible Messages API at /api/v1/messages.
    id: "openrouter",
    api: "openai-chat",
    apis: ["openai-chat", "anthropic-messages"],
    baseUrl: "https://openrouter.ai/api",
    auth: { header: "authorization", scheme: "Bearer", secret: "OPENROUTER_API_KEY" },
    models: ["*/*"],
  },
  {
    id: "minimax",
    api: "anthropic-messages",
    baseUrl: "https://api.minimax.io/anthropic",
    auth: { header: "x-api-key", scheme: "", secret: "MINIMAX_API_KEY" },
    models: ["MiniMax-*"],
  },
  {
    id: "zai",
    api: "anthropic-messages",
    baseUrl: "https://api.z.ai/api/anthropic",
    auth: { header: "authorization", scheme: "Bearer", secret: "ZAI_API_KEY" },
    models: ["glm-*"],
  },
  {
    id: "moonshot",
    api: "anthropic-messages",
    baseUrl: "https://api.moonshot.ai/anthropic",
    auth: { header: "authorization", scheme: "Bearer", secret: "MOONSHOT_API_KEY" },
    models: ["kimi-*"],
  },
  {
    id: "deepseek",
    api: "anthropic-messages",
    baseUrl: "https://api.deepseek.com/anthropic",
    auth: { header: "x-api-key", scheme: "", secret: "DEEPSEEK_API_KEY" },
    models: ["deepseek-*"],
  },
  {
    // The Gemini API (what Gemini CLI speaks with an API key): /v1beta/models/{model}:generateContent.
    id: "google",
    api: "google-generative-ai",
    baseUrl: "https://generativelanguage.googleapis.com",
    auth: { header: "x-goog-api-key", scheme: "", secret: "GEMINI_API_KEY" },
    models: ["gemini-*"],
  },
];

/** berth's scripted mock model (docs/mock-provider.md): every API at one URL, no credential. */
export function mockProviderInput(url: string): ProviderInput {
  return {
    id: MOCK_PROVIDER_ID,
    api: "anthropic-messages",
    apis: ["anthropic-messages", "openai-chat", "openai-responses", "google-generative-ai"],
    baseUrl: url,
    auth: "none",
    models: ["mock-*"],
  };
}
