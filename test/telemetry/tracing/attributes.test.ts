import * as incubating from "@opentelemetry/semantic-conventions/incubating";
import { describe, expect, it } from "vitest";
import { EVENT_INFERENCE_DETAILS, GEN_AI, providerName } from "../../../src/telemetry/tracing/attributes.js";

describe("tracing attributes: names", () => {
  it("maps provider ids to gen_ai.provider.name well-known values", () => {
    expect(providerName("anthropic-oauth")).toBe("anthropic");
    expect(providerName("openai")).toBe("openai");
    expect(providerName("kimi")).toBe("moonshot_ai");
    expect(providerName("deepseek")).toBe("deepseek");
    expect(providerName("mock")).toBe("mock");
  });

  it("uses the attribute names of @opentelemetry/semantic-conventions (incubating GenAI registry)", () => {
    const inc = incubating as unknown as Record<string, string>;
    const expected: Record<keyof typeof GEN_AI, string> = {
      OPERATION_NAME: inc.ATTR_GEN_AI_OPERATION_NAME!,
      PROVIDER_NAME: inc.ATTR_GEN_AI_PROVIDER_NAME!,
      AGENT_NAME: inc.ATTR_GEN_AI_AGENT_NAME!,
      AGENT_VERSION: inc.ATTR_GEN_AI_AGENT_VERSION!,
      CONVERSATION_ID: inc.ATTR_GEN_AI_CONVERSATION_ID!,
      REQUEST_MODEL: inc.ATTR_GEN_AI_REQUEST_MODEL!,
      REQUEST_STREAM: inc.ATTR_GEN_AI_REQUEST_STREAM!,
      RESPONSE_MODEL: inc.ATTR_GEN_AI_RESPONSE_MODEL!,
      RESPONSE_ID: inc.ATTR_GEN_AI_RESPONSE_ID!,
      RESPONSE_FINISH_REASONS: inc.ATTR_GEN_AI_RESPONSE_FINISH_REASONS!,
      RESPONSE_TIME_TO_FIRST_CHUNK: inc.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK!,
      USAGE_INPUT_TOKENS: inc.ATTR_GEN_AI_USAGE_INPUT_TOKENS!,
      USAGE_OUTPUT_TOKENS: inc.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS!,
      USAGE_CACHE_READ_INPUT_TOKENS: inc.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS!,
      USAGE_CACHE_CREATION_INPUT_TOKENS: inc.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS!,
      USAGE_REASONING_OUTPUT_TOKENS: inc.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS!,
      TOKEN_TYPE: inc.ATTR_GEN_AI_TOKEN_TYPE!,
      TOOL_NAME: inc.ATTR_GEN_AI_TOOL_NAME!,
      TOOL_CALL_ID: inc.ATTR_GEN_AI_TOOL_CALL_ID!,
      TOOL_TYPE: inc.ATTR_GEN_AI_TOOL_TYPE!,
      TOOL_CALL_ARGUMENTS: inc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS!,
      TOOL_CALL_RESULT: inc.ATTR_GEN_AI_TOOL_CALL_RESULT!,
      INPUT_MESSAGES: inc.ATTR_GEN_AI_INPUT_MESSAGES!,
      OUTPUT_MESSAGES: inc.ATTR_GEN_AI_OUTPUT_MESSAGES!,
      SYSTEM_INSTRUCTIONS: inc.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS!,
    };
    expect({ ...GEN_AI }).toEqual(expected);
    expect(EVENT_INFERENCE_DETAILS).toBe(inc.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS);
  });
});
