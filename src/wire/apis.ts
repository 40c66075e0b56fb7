// The model wire APIs berth speaks, in one place: their names, the families the gateway
// serves them under, and which request path is which API. The harnesses, the provider
// registry, the gateway, the usage taps and the mock model all take them from here.

export const MODEL_APIS = ["anthropic-messages", "openai-chat", "openai-responses", "google-generative-ai"] as const;
/** A wire API a harness speaks and a provider serves. */
export type ModelApi = (typeof MODEL_APIS)[number];

/** Wire families the gateway serves, each under its own path prefix. */
export type ApiFamily = "anthropic" | "openai" | "google";

export const FAMILY_OF: Record<ModelApi, ApiFamily> = {
  "anthropic-messages": "anthropic",
  "openai-chat": "openai",
  "openai-responses": "openai",
  "google-generative-ai": "google",
};

export function familyOf(api: ModelApi): ApiFamily {
  return FAMILY_OF[api];
}

/** Each family's path prefix at the gateway. */
export const FAMILY_PREFIX: Record<ApiFamily, string> = { anthropic: "/anthropic", openai: "/openai", google: "/google" };

/** What a model call does: generate (metered, spends budget) or count tokens (free upstream). */
export type CallKind = "generate" | "count";

/** The fixed endpoints of each API, after the version segment (`/v1`). Gemini's name the model: GEMINI_PATH. */
export const ENDPOINTS: { api: ModelApi; path: string; kind: CallKind }[] = [
  { api: "anthropic-messages", path: "/messages", kind: "generate" },
  { api: "anthropic-messages", path: "/messages/count_tokens", kind: "count" },
  { api: "openai-chat", path: "/chat/completions", kind: "generate" },
  { api: "openai-responses", path: "/responses", kind: "generate" },
];

/** Gemini's endpoints: `/{version}/models/{model}:{method}`. */
export const GEMINI_PATH = /^\/(v1beta|v1)\/models\/([A-Za-z0-9][A-Za-z0-9._-]*):(generateContent|streamGenerateContent|countTokens)$/;

export interface ClassifiedCall {
  api: ModelApi;
  kind: CallKind;
  /** Gemini's streaming method (the others say so in the body). */
  stream?: boolean;
  /** Gemini names the model in the path (decoded). */
  model?: string;
}

/**
 * The API and kind of a model request from its path (query excluded, trailing slashes
 * ignored), wherever the provider's base path puts it: an endpoint is matched at the end
 * of the path. Undefined for anything else (model listings, batches, files).
 */
export function classifyPath(pathname: string): ClassifiedCall | undefined {
  const p = pathname.split("?")[0]!.replace(/\/+$/, "");
  const g = /\/models\/([^:?]+):(generateContent|streamGenerateContent|countTokens)$/.exec(p);
  if (g) {
    let model = g[1]!;
    try {
      model = decodeURIComponent(model);
    } catch {
      /* kept as sent */
    }
    return { api: "google-generative-ai", kind: g[2] === "countTokens" ? "count" : "generate", stream: g[2] === "streamGenerateContent", model };
  }
  // Longest first, so /messages/count_tokens is not taken for /messages.
  const e = ENDPOINTS_LONGEST_FIRST.find((x) => p.endsWith(x.path));
  return e ? { api: e.api, kind: e.kind } : undefined;
}

const ENDPOINTS_LONGEST_FIRST = [...ENDPOINTS].sort((a, b) => b.path.length - a.path.length);
