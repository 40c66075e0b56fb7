import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockScript } from "../../src/mock/index.js";
import { accumulateChat, post, postSse } from "./helpers.js";

const script: MockScript = {
  steps: [
    { text: "Writing the file now.", tool: { name: "bash", input: { command: "echo hi > hello.txt" } } },
    {
      thinking: "two reads at once",
      tools: [
        { name: "read", input: { path: "a.txt" } },
        { name: "write", input: { path: "b.txt", content: "x".repeat(50) } },
      ],
    },
    { text: "All done." },
  ],
};

const tools = ["bash", "read", "write"].map((name) => ({
  type: "function",
  function: { name, description: name, parameters: { type: "object" } },
}));

function messages(toolResults: number): any[] {
  const out: any[] = [{ role: "system", content: "be brief" }, { role: "user", content: "go" }];
  for (let i = 0; i < toolResults; i++) {
    out.push({
      role: "assistant",
      content: null,
      tool_calls: [{ id: `c${i}`, type: "function", function: { name: "bash", arguments: "{}" } }],
    });
    out.push({ role: "tool", tool_call_id: `c${i}`, content: "ok" });
  }
  return out;
}

let mock: MockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ script });
});
afterAll(() => mock.close());

describe("OpenAI Chat Completions streaming", () => {
  it("streams text then a tool call split across chunks, finishing with tool_calls", async () => {
    const events = await postSse(`${mock.url}/v1/chat/completions`, {
      model: "gpt-mock",
      stream: true,
      messages: messages(0),
      tools,
    });
    const r = accumulateChat(events);
    expect(r.content).toBe("Writing the file now.");
    expect(r.finishReason).toBe("tool_calls");
    expect(r.toolCalls).toHaveLength(1);
    expect(r.toolCalls[0]!.name).toBe("bash");
    expect(r.toolCalls[0]!.id).toMatch(/^call_/);
    expect(JSON.parse(r.toolCalls[0]!.arguments)).toEqual({ command: "echo hi > hello.txt" });
    // Arguments arrive in at least two fragments after the fragment naming the call.
    const argChunks = r.chunks.filter((c) => c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments);
    expect(argChunks.length).toBeGreaterThanOrEqual(2);
    expect(r.chunks[0].choices[0].delta.role).toBe("assistant");
    expect(r.chunks[0].model).toBe("gpt-mock");
    // No usage chunk unless asked for.
    expect(r.usage).toBeNull();
    expect(r.chunks.every((c) => !("usage" in c))).toBe(true);
  });

  it("streams parallel tool calls by index, with reasoning and an include_usage chunk", async () => {
    const events = await postSse(`${mock.url}/chat/completions`, {
      model: "gpt-mock",
      stream: true,
      stream_options: { include_usage: true },
      messages: messages(1),
      tools,
    });
    const r = accumulateChat(events);
    expect(r.finishReason).toBe("tool_calls");
    expect(r.reasoning).toBe("two reads at once");
    expect(r.content).toBeNull();
    expect(r.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ["read", { path: "a.txt" }],
      ["write", { path: "b.txt", content: "x".repeat(50) }],
    ]);
    const last = r.chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
      prompt_tokens_details: { cached_tokens: expect.any(Number) },
    });
    expect(last.usage.total_tokens).toBe(last.usage.prompt_tokens + last.usage.completion_tokens);
    expect(last.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
    // Every other chunk says usage: null, as OpenAI does with include_usage.
    expect(r.chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it("ends with stop after the tool results of both parallel calls", async () => {
    const r = accumulateChat(
      await postSse(`${mock.url}/v1/chat/completions`, { model: "m", stream: true, messages: messages(3), tools }),
    );
    expect(r.content).toBe("All done.");
    expect(r.finishReason).toBe("stop");
    expect(r.toolCalls).toEqual([]);
  });
});

describe("OpenAI Chat Completions JSON", () => {
  it("returns a chat.completion with tool_calls", async () => {
    const res = await post(`${mock.url}/v1/chat/completions`, { model: "m", messages: messages(0), tools });
    const body = (await res.json()) as any;
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0].finish_reason).toBe("tool_calls");
    expect(body.choices[0].message).toMatchObject({ role: "assistant", content: "Writing the file now." });
    expect(body.choices[0].message.tool_calls[0]).toMatchObject({ type: "function", function: { name: "bash" } });
    expect(JSON.parse(body.choices[0].message.tool_calls[0].function.arguments)).toEqual({ command: "echo hi > hello.txt" });
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it("returns stop with content null tool_calls absent at the end", async () => {
    const res = await post(`${mock.url}/chat/completions`, { model: "m", messages: messages(3), tools });
    const body = (await res.json()) as any;
    expect(body.choices[0].finish_reason).toBe("stop");
    expect(body.choices[0].message.content).toBe("All done.");
    expect(body.choices[0].message.tool_calls).toBeUndefined();
  });
});
