import type { ModelApi } from "../harnesses/types.js";
import type { Upstream } from "./gateway.js";

/** Wire families the gateway routes: one upstream per family. */
export type ApiFamily = "anthropic" | "openai" | "google";

export function familyOf(api: ModelApi): ApiFamily {
  return api === "anthropic-messages" ? "anthropic" : api === "google-generative-ai" ? "google" : "openai";
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
 * ANTHROPIC_BASE_URL) for the Anthropic family, OPENAI_API_KEY (+ OPENAI_BASE_URL) for the OpenAI family,
 * GEMINI_API_KEY (+ GOOGLE_GEMINI_BASE_URL) for the Google (Gemini API) family. With none, berth
 * serves its scripted mock model for all. With some, the other families have no upstream and
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
  if (env.GEMINI_API_KEY)
    byFamily.google = {
      provider: "google",
      api: "google-generative-ai",
      baseUrl: env.GOOGLE_GEMINI_BASE_URL ?? "https://generativelanguage.googleapis.com",
      auth: { header: "x-goog-api-key", value: env.GEMINI_API_KEY },
    };
  const useMock = !byFamily.anthropic && !byFamily.openai && !byFamily.google;
  const defaultModel =
    env.BERTH_MODEL ?? (useMock ? "mock-1" : byFamily.anthropic ? "claude-sonnet-4-5" : byFamily.openai ? "gpt-5" : "gemini-2.5-pro");
  return { byFamily, defaultModel, useMock };
}

/**
 * The model a session gets when it names none: the mock when berth holds no provider key,
 * else the first family it has a key for.
 */
export function defaultModelFromEnv(env = process.env): { defaultModel: string; useMock: boolean } {
  const { defaultModel, useMock } = upstreamsFromEnv(env);
  return { defaultModel, useMock };
}
