import type { Upstream } from "./gateway.js";

/**
 * First-cut upstream choice (the provider registry replaces it): Anthropic when berth
 * itself holds ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL may point elsewhere), otherwise
 * berth's own scripted mock provider. The key is read from berth's environment only.
 */
export function upstreamFromEnv(env = process.env): { upstream?: Upstream; defaultModel: string } {
  const key = env.ANTHROPIC_API_KEY;
  if (key) {
    return {
      upstream: {
        provider: "anthropic",
        api: "anthropic-messages",
        baseUrl: env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com",
        auth: { header: "x-api-key", value: key },
      },
      defaultModel: env.BERTH_MODEL ?? "claude-sonnet-4-5",
    };
  }
  return { defaultModel: env.BERTH_MODEL ?? "mock-1" };
}
