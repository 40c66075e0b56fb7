import { describe, expect, it } from "vitest";
import { classifyPath, ENDPOINTS, familyOf, MODEL_APIS } from "../../src/wire/apis.js";

const generates = (p: string) => {
  const c = classifyPath(p);
  return c?.kind === "generate" ? c.api : undefined;
};

describe("classifyPath", () => {
  it("knows each API's generate endpoints wherever the provider's base path puts them, and nothing else", () => {
    expect(generates("/v1/messages")).toBe("anthropic-messages");
    expect(generates("/v1/messages?beta=true")).toBe("anthropic-messages");
    expect(generates("/v1/chat/completions")).toBe("openai-chat");
    expect(generates("/api/paas/v4/chat/completions")).toBe("openai-chat");
    expect(generates("/v1/responses")).toBe("openai-responses");
    expect(generates("/v1/responses/")).toBe("openai-responses");
    expect(generates("/v1/models")).toBeUndefined();
    expect(generates("/v1/responses/resp_123")).toBeUndefined();
    expect(generates("/v1/messages/batches")).toBeUndefined();
    expect(generates("/v1beta/models/gemini-2.5-pro:streamGenerateContent")).toBe("google-generative-ai");
    expect(generates("/v1beta/models/gemini-2.5-pro:generateContent")).toBe("google-generative-ai");
  });

  it("tells token counting apart (free upstream, no usage), and reads Gemini's model and streaming from the path", () => {
    expect(classifyPath("/v1/messages/count_tokens")).toEqual({ api: "anthropic-messages", kind: "count" });
    expect(classifyPath("/v1beta/models/gemini-2.5-pro:countTokens")).toMatchObject({ api: "google-generative-ai", kind: "count" });
    expect(classifyPath("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")).toEqual({ api: "google-generative-ai", kind: "generate", stream: true, model: "gemini-2.5-pro" });
    expect(classifyPath("/v1beta/models/a%2Fb:generateContent")?.model).toBe("a/b");
    expect(classifyPath("/v1beta/models/%E0%A4%A:generateContent")?.model).toBe("%E0%A4%A");
    expect(classifyPath("/v1/messages")?.model).toBeUndefined();
  });

  it("every API has a family and at least one endpoint", () => {
    for (const api of MODEL_APIS) {
      expect(familyOf(api)).toMatch(/^(anthropic|openai|google)$/);
      if (api !== "google-generative-ai") expect(ENDPOINTS.some((e) => e.api === api && e.kind === "generate")).toBe(true);
    }
  });
});
