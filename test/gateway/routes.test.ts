import { describe, expect, it } from "vitest";
import { allowedCall, isRefusal, nonCanonical } from "../../src/gateway/routes.js";

const code = (x: ReturnType<typeof allowedCall>) => (isRefusal(x) ? `${x.status} ${x.code}` : x.kind);

describe("the gateway's allowlist", () => {
  it("lets through exactly what the five harnesses call", () => {
    expect(allowedCall("anthropic", "POST", "/v1/messages")).toEqual({ kind: "generate", api: "anthropic-messages", path: "/v1/messages", query: "" });
    expect(allowedCall("anthropic", "POST", "/v1/messages?beta=true")).toEqual({ kind: "generate", api: "anthropic-messages", path: "/v1/messages", query: "?beta=true" });
    expect(code(allowedCall("anthropic", "POST", "/v1/messages/count_tokens?beta=true"))).toBe("count");
    expect(code(allowedCall("openai", "POST", "/v1/responses"))).toBe("generate");
    expect(code(allowedCall("openai", "POST", "/v1/chat/completions"))).toBe("generate");
    // The endpoint's API is what reads the response's usage.
    expect(allowedCall("openai", "POST", "/v1/responses")).toMatchObject({ api: "openai-responses" });
    expect(allowedCall("openai", "POST", "/v1/chat/completions")).toMatchObject({ api: "openai-chat" });
    expect(allowedCall("google", "POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")).toEqual({
      kind: "generate",
      api: "google-generative-ai",
      path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
      query: "?alt=sse",
      pathModel: "gemini-2.5-pro",
    });
    expect(allowedCall("google", "POST", "/v1/models/gemini-mock:generateContent")).toMatchObject({ kind: "generate", pathModel: "gemini-mock" });
    expect(allowedCall("google", "POST", "/v1beta/models/gemini-mock:countTokens")).toMatchObject({ kind: "count", pathModel: "gemini-mock" });
  });

  it("refuses every other endpoint of each family with 404 route_not_allowed", () => {
    for (const [family, path] of [
      ["anthropic", "/v1/messages/batches"],
      ["anthropic", "/v1/messages/batches/msgbatch_1/results"],
      ["anthropic", "/v1/files"],
      ["anthropic", "/v1/models"],
      ["anthropic", "/v1/organizations/api_keys"],
      ["anthropic", "/v1/complete"],
      ["anthropic", "/v1/Messages"],
      ["anthropic", "/messages"],
      ["anthropic", "/v1/messages:x"],
      ["openai", "/v1/files"],
      ["openai", "/v1/batches"],
      ["openai", "/v1/fine_tuning/jobs"],
      ["openai", "/v1/responses/resp_1"],
      ["openai", "/v1/responses/resp_1/cancel"],
      ["openai", "/v1/embeddings"],
      ["openai", "/v1/images/generations"],
      ["openai", "/v1/models"],
      ["openai", "/v1/messages"],
      ["google", "/v1beta/files"],
      ["google", "/upload/v1beta/files"],
      ["google", "/v1beta/cachedContents"],
      ["google", "/v1beta/models"],
      ["google", "/v1beta/models/gemini-mock"],
      ["google", "/v1beta/models/gemini-mock:batchGenerateContent"],
      ["google", "/v1beta/models/gemini-mock:embedContent"],
      ["google", "/v1beta/tunedModels/x:generateContent"],
      ["google", "/v1beta/models/a/b:generateContent"],
      ["google", "/v1beta/models/:generateContent"],
      ["google", "/v1/messages"],
    ] as const)
      expect([family, path, code(allowedCall(family, "POST", path))]).toEqual([family, path, "404 route_not_allowed"]);
  });

  it("refuses the right path with the wrong method (405, Allow: POST)", () => {
    for (const m of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
      const r = allowedCall("anthropic", m, "/v1/messages");
      expect(r).toMatchObject({ status: 405, code: "method_not_allowed", allow: "POST" });
    }
    expect(code(allowedCall("google", "GET", "/v1beta/models/gemini-mock:generateContent"))).toBe("405 method_not_allowed");
  });

  it("refuses dot segments, empty segments, backslashes and every percent-encoding before matching", () => {
    const variants = [
      "/v1/messages/../../_berth/git/credential",
      "/../_berth/git/credential",
      "/v1/../v1/messages",
      "/v1/./messages",
      "/./v1/messages",
      "/v1/messages/.",
      "/v1/messages/..",
      "/v1/%2e%2e/messages",
      "/v1/%2E%2E/messages",
      "/v1/.%2e/messages",
      "/v1/%2e./messages",
      "/v1%2fmessages",
      "/v1%2Fmessages",
      "/v1/messages%2f..%2f..%2ffiles",
      "/v1%5c..%5cfiles",
      "/v1\\..\\files",
      "/v1/messages\\",
      "//v1/messages",
      "/v1//messages",
      "/v1/messages//",
      "/v1/%6dessages",
      "/v1/messages%00",
      "/v1/messages%3Fbeta=true",
      "/v1/%252e%252e/files",
      "/v1/messages;x=1",
      "/v1/messages#frag",
      "/v1/mes sages",
      "/v1/messages\t",
      "/v1/\u2024\u2024/files",
      "/v1/ＮＮ/messages",
      "v1/messages",
      "",
    ];
    for (const v of variants) expect([v, code(allowedCall("anthropic", "POST", v))]).toEqual([v, "400 path_not_canonical"]);
    // Gemini: the model in the path gets the same treatment.
    for (const v of ["/v1beta/models/..%2f..%2ffiles:generateContent", "/v1beta/models/%2e%2e:generateContent", "/v1beta/models/../files:generateContent", "/v1beta/models/.hidden:generateContent"])
      expect([v, code(allowedCall("google", "POST", v))]).toEqual([v, "400 path_not_canonical"]);
    // The whole raw target is checked the same way, /_berth/ routes included.
    expect(nonCanonical("/anthropic/../_berth/git/credential")).toMatchObject({ status: 400, code: "path_not_canonical" });
    expect(nonCanonical("/anthropic/%2e%2e/_berth/git/credential")).toMatchObject({ status: 400 });
    expect(nonCanonical("http://127.0.0.1/_berth/git/credential")).toMatchObject({ status: 400 });
    expect(nonCanonical("/_berth/git/credential")).toBeUndefined();
  });

  it("forwards only the query parameters a family's SDK sends, with plain values", () => {
    expect(code(allowedCall("anthropic", "POST", "/v1/messages?beta=true"))).toBe("generate");
    expect(code(allowedCall("google", "POST", "/v1beta/models/g:streamGenerateContent?alt=sse"))).toBe("generate");
    for (const [family, path] of [
      ["anthropic", "/v1/messages?key=x"],
      ["anthropic", "/v1/messages?beta=true&x=1"],
      ["anthropic", "/v1/messages?beta=%2e%2e"],
      ["anthropic", "/v1/messages?beta=a/b"],
      ["openai", "/v1/responses?api-version=1"],
      ["google", "/v1beta/models/g:generateContent?key=AIza"],
      ["google", "/v1beta/models/g:generateContent?alt=sse&upload_id=1"],
    ] as const)
      expect([path, code(allowedCall(family, "POST", path))]).toEqual([path, "400 query_not_allowed"]);
  });
});
