import { classifyPath, type ModelApi } from "../wire/apis.js";
import { anthropicFormat } from "./anthropic.js";
import { geminiFormat, geminiStreamFormat } from "./gemini.js";
import { openaiChatFormat } from "./openai-chat.js";
import { openaiResponsesFormat } from "./openai-responses.js";
import type { WireFormat } from "./wire.js";

/** What a request to the mock is. */
export type Route =
  | { kind: "health" }
  | { kind: "inspect" }
  | { kind: "models"; id?: string }
  | { kind: "api"; api: ModelApi; format: WireFormat; model?: string }
  | { kind: "count_tokens"; api: ModelApi; model?: string }
  | { kind: "not_found" };

export const ALLOWED: Record<Route["kind"], string> = {
  health: "GET",
  inspect: "GET, DELETE",
  models: "GET",
  api: "POST",
  count_tokens: "POST",
  not_found: "",
};

/** The request log's `api` labels, as docs/mock-provider.md shows them (users' tests read them). */
export const LOG_LABEL = {
  "anthropic-messages": "anthropic",
  "openai-chat": "openai-chat",
  "openai-responses": "openai-responses",
  "google-generative-ai": "gemini",
} as const satisfies Record<ModelApi, string>;

export type LogLabel = (typeof LOG_LABEL)[ModelApi] | "models";

const FORMATS: Record<ModelApi, WireFormat> = {
  "anthropic-messages": anthropicFormat,
  "openai-chat": openaiChatFormat,
  "openai-responses": openaiResponsesFormat,
  "google-generative-ai": geminiFormat,
};

/**
 * Which endpoint a path is. Model calls are classified as everywhere in berth (wire/apis.ts);
 * clients disagree on whether the base URL ends in /v1, so both spellings route the same.
 */
export function route(pathname: string): Route {
  let p = pathname.replace(/\/+$/, "") || "/";
  if (p === "/health") return { kind: "health" };
  if (p === "/_mock/requests") return { kind: "inspect" };
  const call = classifyPath(p);
  if (call?.kind === "count") return { kind: "count_tokens", api: call.api, ...(call.model ? { model: call.model } : {}) };
  if (call) {
    const format = call.stream ? geminiStreamFormat : FORMATS[call.api];
    return { kind: "api", api: call.api, format, ...(call.model ? { model: call.model } : {}) };
  }
  if (p === "/v1" || p.startsWith("/v1/")) p = p.slice(3) || "/";
  if (p === "/models") return { kind: "models" };
  if (p.startsWith("/models/")) return { kind: "models", id: decodeURIComponent(p.slice("/models/".length)) };
  return { kind: "not_found" };
}

/** The format that words a route's errors (a count_tokens call answers in its API's shape). */
export function errorFormat(api: ModelApi): Pick<WireFormat, "errorBody"> {
  return FORMATS[api];
}

/** Readable by both SDK families: Anthropic looks at error.type, OpenAI at error.message/code. */
export function neutralError(message: string, type: string) {
  return { type: "error", error: { type, message, param: null, code: null } };
}
