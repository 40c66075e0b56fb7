// Span attribute names: the OpenTelemetry GenAI semantic conventions where they have a
// name, berth.* where they do not.

import type { Attributes } from "@opentelemetry/api";

/**
 * GenAI attribute names. The JS package ships them only from its unstable `incubating`
 * entry point, which it advises copying rather than importing; test/telemetry checks these
 * against it.
 */
export const GEN_AI = {
  OPERATION_NAME: "gen_ai.operation.name",
  PROVIDER_NAME: "gen_ai.provider.name",
  AGENT_NAME: "gen_ai.agent.name",
  AGENT_VERSION: "gen_ai.agent.version",
  CONVERSATION_ID: "gen_ai.conversation.id",
  REQUEST_MODEL: "gen_ai.request.model",
  REQUEST_STREAM: "gen_ai.request.stream",
  RESPONSE_MODEL: "gen_ai.response.model",
  RESPONSE_ID: "gen_ai.response.id",
  RESPONSE_FINISH_REASONS: "gen_ai.response.finish_reasons",
  RESPONSE_TIME_TO_FIRST_CHUNK: "gen_ai.response.time_to_first_chunk",
  USAGE_INPUT_TOKENS: "gen_ai.usage.input_tokens",
  USAGE_OUTPUT_TOKENS: "gen_ai.usage.output_tokens",
  USAGE_CACHE_READ_INPUT_TOKENS: "gen_ai.usage.cache_read.input_tokens",
  USAGE_CACHE_CREATION_INPUT_TOKENS: "gen_ai.usage.cache_creation.input_tokens",
  USAGE_REASONING_OUTPUT_TOKENS: "gen_ai.usage.reasoning.output_tokens",
  TOKEN_TYPE: "gen_ai.token.type",
  TOOL_NAME: "gen_ai.tool.name",
  TOOL_CALL_ID: "gen_ai.tool.call.id",
  TOOL_TYPE: "gen_ai.tool.type",
  TOOL_CALL_ARGUMENTS: "gen_ai.tool.call.arguments",
  TOOL_CALL_RESULT: "gen_ai.tool.call.result",
  INPUT_MESSAGES: "gen_ai.input.messages",
  OUTPUT_MESSAGES: "gen_ai.output.messages",
  SYSTEM_INSTRUCTIONS: "gen_ai.system_instructions",
} as const;

/** The one GenAI content event (semconv gen-ai-events.md); content goes only there, and only on opt-in. */
export const EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details";

/** berth's own attributes, for what the GenAI conventions have no name for. */
export const BERTH = {
  TURN_ID: "berth.turn.id",
  TURN_STOP_REASON: "berth.turn.stop_reason",
  TURN_MODEL_CALLS: "berth.turn.model_calls",
  TURN_TOOL_CALLS: "berth.turn.tool_calls",
  HARNESS: "berth.harness",
  TIER: "berth.sandbox.tier",
  PROVIDER: "berth.provider",
  API: "berth.gateway.api",
  COST_USD: "berth.usage.cost_usd",
  TOOL_KIND: "berth.tool.kind",
  TOOL_STATUS: "berth.tool.status",
  SESSION_PHASE: "berth.session.phase",
  POOL: "berth.pool",
} as const;

/** What every `invoke_agent {harness}` span carries: a turn's (turn-spans.ts) and a session start's (start-spans.ts). */
export function invokeAgentAttributes(a: { harness: string; sessionId: string; model?: string | undefined; tier?: string | undefined }): Attributes {
  return {
    [GEN_AI.OPERATION_NAME]: "invoke_agent",
    [GEN_AI.AGENT_NAME]: a.harness,
    [GEN_AI.CONVERSATION_ID]: a.sessionId,
    [BERTH.HARNESS]: a.harness,
    ...(a.model ? { [GEN_AI.REQUEST_MODEL]: a.model } : {}),
    ...(a.tier ? { [BERTH.TIER]: a.tier } : {}),
  };
}

/**
 * gen_ai.provider.name for a berth provider id: the semconv well-known value where one
 * applies (anthropic, openai, deepseek, moonshot_ai, ...), else the id itself.
 */
export function providerName(id: string): string {
  const p = id.trim().toLowerCase();
  if (p.startsWith("anthropic") || p === "claude") return "anthropic";
  if (p.startsWith("azure")) return "azure.ai.openai";
  if (p.startsWith("openai")) return "openai";
  if (p.includes("bedrock")) return "aws.bedrock";
  if (p.includes("vertex")) return "gcp.vertex_ai";
  if (p.startsWith("gemini") || p.startsWith("google")) return "gcp.gemini";
  if (p.startsWith("deepseek")) return "deepseek";
  if (p.startsWith("moonshot") || p.startsWith("kimi")) return "moonshot_ai";
  if (p.startsWith("mistral")) return "mistral_ai";
  if (p.startsWith("groq")) return "groq";
  if (p === "xai" || p === "x_ai" || p.startsWith("grok")) return "x_ai";
  if (p.startsWith("cohere")) return "cohere";
  if (p.startsWith("perplexity")) return "perplexity";
  return p || "_OTHER";
}
