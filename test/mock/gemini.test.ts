import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockScript } from "../../src/mock/index.js";
import { classifyPath } from "../../src/wire/apis.js";
import { post, postSse } from "./helpers.js";

const script: MockScript = {
  steps: [
    {
      thinking: "I should write the file with the shell tool.",
      text: "I'll write the file.",
      tool: { name: "Run_Shell_Command", input: { command: "echo hi > hello.txt", note: "ünïcödé ✓ 🚀" } },
    },
    { tools: [{ name: "read_file", input: { file_path: "a.txt" } }, { name: "read_file", input: { file_path: "b.txt" } }] },
    { text: "Done. Both files read." },
  ],
};

const tools = [
  {
    functionDeclarations: [
      { name: "run_shell_command", description: "run a command", parametersJsonSchema: { type: "object" } },
      { name: "read_file", description: "read a file", parameters: { type: "OBJECT" } },
    ],
  },
];

/** A conversation after tool-using turns, as Gemini CLI sends it (results in user turns). */
function contents(resultGroups: number[]): any[] {
  const out: any[] = [{ role: "user", parts: [{ text: "write hello.txt" }] }];
  for (const n of resultGroups) {
    const ids = Array.from({ length: n }, (_, i) => `c${out.length}_${i}`);
    out.push({ role: "model", parts: ids.map((id) => ({ functionCall: { id, name: "x", args: {} } })) });
    out.push({ role: "user", parts: ids.map((id) => ({ functionResponse: { id, name: "x", response: { output: "ok" } } })) });
  }
  return out;
}

const body = (resultGroups: number[], extra: Record<string, unknown> = {}) => ({
  contents: contents(resultGroups),
  systemInstruction: { parts: [{ text: "be brief" }] },
  tools,
  generationConfig: { temperature: 0 },
  ...extra,
});

/** What @google/genai does with a stream: every chunk is a whole response; parts accumulate. */
function accumulate(chunks: any[]) {
  const parts: any[] = [];
  for (const c of chunks) parts.push(...(c.candidates?.[0]?.content?.parts ?? []));
  const last = chunks.at(-1);
  return {
    thought: parts.filter((p) => p.thought).map((p) => p.text).join(""),
    text: parts.filter((p) => typeof p.text === "string" && !p.thought).map((p) => p.text).join(""),
    calls: parts.filter((p) => p.functionCall).map((p) => p.functionCall),
    finishReason: last?.candidates?.[0]?.finishReason,
    usage: last?.usageMetadata,
  };
}

let mock: MockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ script });
});
afterAll(() => mock.close());

describe("Gemini API streaming (streamGenerateContent?alt=sse)", () => {
  it("streams thought, text and a function call as whole responses, finishing with STOP and usage", async () => {
    const events = await postSse(`${mock.url}/v1beta/models/gemini-mock:streamGenerateContent?alt=sse`, body([]));
    // Gemini's SSE has data lines only, no event names.
    expect(events.every((e) => e.event === null)).toBe(true);
    const chunks = events.map((e) => JSON.parse(e.data));
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) {
      expect(c.candidates).toHaveLength(1);
      expect(c.candidates[0].content.role).toBe("model");
      expect(c.modelVersion).toBe("gemini-mock");
      expect(c.responseId).toBe(chunks[0].responseId);
    }
    // Only the last chunk finishes.
    expect(chunks.slice(0, -1).every((c) => c.candidates[0].finishReason === undefined)).toBe(true);

    const r = accumulate(chunks);
    expect(r.thought).toBe("I should write the file with the shell tool.");
    expect(r.text).toBe("I'll write the file.");
    // The scripted name is matched to the offered one case-insensitively.
    expect(r.calls).toEqual([
      { id: expect.stringMatching(/^call_mock_0_/), name: "run_shell_command", args: { command: "echo hi > hello.txt", note: "ünïcödé ✓ 🚀" } },
    ]);
    expect(r.finishReason).toBe("STOP");
    expect(r.usage).toMatchObject({ promptTokenCount: expect.any(Number), candidatesTokenCount: expect.any(Number), thoughtsTokenCount: expect.any(Number) });
    expect(r.usage.totalTokenCount).toBe(r.usage.promptTokenCount + r.usage.candidatesTokenCount + r.usage.thoughtsTokenCount);
    // The last thought part carries a signature, which clients echo back.
    expect(chunks.flatMap((c) => c.candidates[0].content.parts).filter((p: any) => p.thoughtSignature)).toHaveLength(1);
  });

  it("counts functionResponse parts to pick the step: parallel calls, then the closing text", async () => {
    const second = accumulate((await postSse(`${mock.url}/v1beta/models/m:streamGenerateContent?alt=sse`, body([1]))).map((e) => JSON.parse(e.data)));
    expect(second.calls.map((c) => [c.name, c.args])).toEqual([
      ["read_file", { file_path: "a.txt" }],
      ["read_file", { file_path: "b.txt" }],
    ]);
    const last = accumulate((await postSse(`${mock.url}/v1beta/models/m:streamGenerateContent?alt=sse`, body([1, 2]))).map((e) => JSON.parse(e.data)));
    expect(last).toMatchObject({ text: "Done. Both files read.", calls: [], finishReason: "STOP" });
    // Cached prefix is reported inside the prompt count.
    expect(last.usage.cachedContentTokenCount).toBeGreaterThan(0);
    expect(last.usage.cachedContentTokenCount).toBeLessThan(last.usage.promptTokenCount);
  });

  it("answers a tool-less side request (JSON-schema checks, summaries) with text only", async () => {
    const r = accumulate(
      (await postSse(`${mock.url}/v1beta/models/m:streamGenerateContent?alt=sse`, { contents: contents([]) })).map((e) => JSON.parse(e.data)),
    );
    expect(r).toMatchObject({ text: "mock", calls: [], finishReason: "STOP" });
  });
});

describe("Gemini API JSON (generateContent) and countTokens", () => {
  it("returns one GenerateContentResponse", async () => {
    const res = await post(`${mock.url}/v1beta/models/gemini-mock:generateContent`, body([]));
    expect(res.status).toBe(200);
    const b = (await res.json()) as any;
    const parts = b.candidates[0].content.parts;
    expect(parts.map((p: any) => Object.keys(p).sort().join(","))).toEqual(["text,thought,thoughtSignature", "text", "functionCall"]);
    expect(parts[2].functionCall).toMatchObject({ name: "run_shell_command", args: { command: "echo hi > hello.txt" } });
    expect(b.candidates[0]).toMatchObject({ finishReason: "STOP", index: 0 });
    expect(b.modelVersion).toBe("gemini-mock");
  });

  it("counts tokens", async () => {
    const res = await post(`${mock.url}/v1beta/models/m:countTokens`, { contents: contents([1]) });
    expect((await res.json()) as any).toEqual({ totalTokens: expect.any(Number) });
  });

  it("records the model from the path and the api as gemini", async () => {
    await mock.close();
    mock = await startMockProvider({ script });
    await post(`${mock.url}/v1beta/models/gemini-2.5-pro:generateContent`, body([]));
    await post(`${mock.url}/v1beta/models/gemini-2.5-pro:countTokens`, body([]));
    expect(mock.requests.map((r) => [r.path, r.api, r.model, r.stream, r.reply])).toEqual([
      ["/v1beta/models/gemini-2.5-pro:generateContent", "gemini", "gemini-2.5-pro", false, "tool_calls"],
      ["/v1beta/models/gemini-2.5-pro:countTokens", "gemini", "gemini-2.5-pro", false, null],
    ]);
  });
});

describe("Gemini API keys and errors", () => {
  it("accepts the key as x-goog-api-key; a wrong or missing key gets 401 in Google's error shape", async () => {
    const key = "AIzaSy-mock-key";
    const m = await startMockProvider({ script, requireKey: key });
    try {
      const url = `${m.url}/v1beta/models/m:generateContent`;
      for (const headers of [{}, { "x-goog-api-key": "wrong" }] as Record<string, string>[]) {
        const res = await post(url, body([]), headers);
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({ error: { code: 401, message: expect.any(String), status: "UNAUTHENTICATED" } });
      }
      expect((await post(url, body([]), { "x-goog-api-key": key })).status).toBe(200);
      const count = await post(`${m.url}/v1beta/models/m:countTokens`, body([]), { "x-goog-api-key": "wrong" });
      expect(((await count.json()) as any).error.status).toBe("UNAUTHENTICATED");
      expect(m.requests.map((r) => r.authOk)).toEqual([false, false, true, false]);
      // The key is never recorded.
      expect(JSON.stringify(m.requests)).not.toContain(key);
    } finally {
      await m.close();
    }
  });

  it("serves scripted errors in Google's shape", async () => {
    const m = await startMockProvider({ script: { steps: [{ error: { status: 429, message: "Quota exceeded" } }] } });
    try {
      const res = await post(`${m.url}/v1beta/models/m:streamGenerateContent?alt=sse`, body([]));
      expect(res.status).toBe(429);
      expect(await res.json()).toEqual({ error: { code: 429, message: "Quota exceeded", status: "RESOURCE_EXHAUSTED" } });
    } finally {
      await m.close();
    }
  });

  it("parses model and method from the path, models with slashes included", () => {
    expect(classifyPath("/v1beta/models/gemini-2.5-flash:streamGenerateContent")).toMatchObject({ model: "gemini-2.5-flash", stream: true });
    expect(classifyPath("/v1/models/tunedModels/x:generateContent")).toMatchObject({ model: "tunedModels/x", stream: false });
    expect(classifyPath("/v1beta/models")).toBeUndefined();
    expect(classifyPath("/v1/messages")?.model).toBeUndefined();
  });
});
