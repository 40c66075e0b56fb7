import type { ModelApi } from "../harnesses/types.js";
import type { Upstream } from "./gateway.js";

/** Wire families the gateway routes: one upstream per family. */
export type ApiFamily = "anthropic" | "openai";

export function familyOf(api: ModelApi): ApiFamily {
  return api === "anthropic-messages" ? "anthropic" : "openai";
}

export interface Upstreams {
  byFamily: Partial<Record<ApiFamily, Upstream>>;
  defaultModel: string;
  /** True when no provider key is configured: every family goes to berth's mock model. */
  useMock: boolean;
}

/**
 * First-cut upstream choice (the provider registry replaces it). Keys come only from
 * berth's own environment: ANTHROPIC_API_KEY, else CLAUDE_CODE_OAUTH_TOKEN (+
 * ANTHROPIC_BASE_URL) for the Anthropic family, OPENAI_API_KEY (+ OPENAI_BASE_URL) for the OpenAI family. With neither, berth
 * serves its scripted mock model for both. With one, the other family has no upstream and
 * sessions that need it are refused at creation: never a silent fallback.
 */
export function upstreamsFromEnv(env = process.env): Upstreams {
  const byFamily: Upstreams["byFamily"] = {};
  if (env.ANTHROPIC_API_KEY)
    byFamily.anthropic = {
      provider: "anthropic",
      api: "anthropic-messages",
      baseUrl: env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com",
      auth: { header: "x-api-key", value: env.ANTHROPIC_API_KEY },
    };
  else if (env.CLAUDE_CODE_OAUTH_TOKEN)
    // Self-hosted subscription use (an individual's own Claude plan, never a shared
    // service): berth holds the OAuth token and sends it upstream as the bearer.
    byFamily.anthropic = {
      provider: "anthropic-oauth",
      api: "anthropic-messages",
      baseUrl: env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com",
      auth: { header: "authorization", value: `Bearer ${env.CLAUDE_CODE_OAUTH_TOKEN}` },
      headers: { "anthropic-beta": "oauth-2025-04-20" },
    };
  if (env.OPENAI_API_KEY)
    byFamily.openai = {
      provider: "openai",
      api: "openai-responses",
      baseUrl: env.OPENAI_BASE_URL ?? "https://api.openai.com",
      auth: { header: "authorization", value: `Bearer ${env.OPENAI_API_KEY}` },
    };
  const useMock = !byFamily.anthropic && !byFamily.openai;
  const defaultModel = env.BERTH_MODEL ?? (useMock ? "mock-1" : byFamily.anthropic ? "claude-sonnet-4-5" : "gpt-5");
  return { byFamily, defaultModel, useMock };
}

/** berth's mock model serves every family at one URL. */
export function mockUpstreams(url: string): Upstreams["byFamily"] {
  return {
    anthropic: { provider: "mock", api: "anthropic-messages", baseUrl: url },
    openai: { provider: "mock", api: "openai-responses", baseUrl: url },
  };
}
