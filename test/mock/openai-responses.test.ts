import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockScript } from "../../src/mock/index.js";
import { accumulateResponses, post, postSse } from "./helpers.js";

const patch = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n";

const script: MockScript = {
  steps: [
    { thinking: "Use the shell.", text: "Running it.", tool: { name: "shell", input: { command: ["bash", "-lc", "echo hi"] } } },
    { tool: { name: "apply_patch", input: patch } },
    { tool: { name: "local_shell", input: { command: "ls -la", workdir: "/tmp" } } },
    { text: "Finished." },
  ],
};

// What Codex offers: function tools, a freeform custom tool and the local_shell built-in.
const codexTools = [
  { type: "function", name: "shell", description: "run", strict: false, parameters: { type: "object" } },
  { type: "custom", name: "apply_patch", description: "patch", format: { type: "grammar", syntax: "lark", definition: "x" } },
  { type: "local_shell" },
  { type: "web_search" },
];

function input(outputs: string[]): any[] {
  const items: any[] = [{ type: "message", role: "user", content: [{ type: "input_text", text: "go" }] }];
  outputs.forEach((type, i) => {
    if (type === "function_call_output") {
      items.push({ type: "function_call", call_id: `c${i}`, name: "shell", arguments: "{}" });
    }
    items.push({ type, call_id: `c${i}`, output: "ok" });
  });
  return items;
}

const base = { model: "gpt-5-codex", instructions: "You are Codex.", stream: true, store: false, tools: codexTools };

let mock: MockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ script });
});
afterAll(() => mock.close());

describe("OpenAI Responses streaming", () => {
  it("streams reasoning summary, text and a function_call, ending in response.completed", async () => {
    const events = await postSse(`${mock.url}/v1/responses`, {
      ...base,
      include: ["reasoning.encrypted_content"],
      input: input([]),
    });
    const { response, output, types } = accumulateResponses(events);
    expect(types.slice(0, 2)).toEqual(["response.created", "response.in_progress"]);
    expect(types).toEqual(
      expect.arrayContaining([
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
      ]),
    );
    expect(types.filter((t) => t === "response.function_call_arguments.delta").length).toBeGreaterThanOrEqual(2);
    expect(output.map((o) => o.type)).toEqual(["reasoning", "message", "function_call"]);
    expect(output[0].summary).toEqual([{ type: "summary_text", text: "Use the shell." }]);
    expect(output[0].encrypted_content).toEqual(expect.any(String));
    expect(output[1].content[0]).toMatchObject({ type: "output_text", text: "Running it." });
    expect(output[2]).toMatchObject({ type: "function_call", name: "shell", status: "completed" });
    expect(output[2].call_id).toMatch(/^call_/);
    expect(JSON.parse(output[2].arguments)).toEqual({ command: ["bash", "-lc", "echo hi"] });
    expect(response.model).toBe("gpt-5-codex");
    expect(response.id).toMatch(/^resp_/);
    // Codex reads exactly these usage fields from response.completed.
    expect(response.usage).toMatchObject({
      input_tokens: expect.any(Number),
      input_tokens_details: { cached_tokens: expect.any(Number) },
      output_tokens: expect.any(Number),
      output_tokens_details: { reasoning_tokens: expect.any(Number) },
      total_tokens: expect.any(Number),
    });
    expect(response.usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  });

  it("answers a scripted call to a custom tool with custom_tool_call carrying raw input", async () => {
    const { output } = accumulateResponses(
      await postSse(`${mock.url}/v1/responses`, { ...base, input: input(["function_call_output"]) }),
    );
    expect(output).toHaveLength(1);
    expect(output[0]).toMatchObject({ type: "custom_tool_call", name: "apply_patch", input: patch, status: "completed" });
  });

  it("answers local_shell with a local_shell_call exec action", async () => {
    const { output } = accumulateResponses(
      await postSse(`${mock.url}/responses`, {
        ...base,
        input: input(["function_call_output", "custom_tool_call_output"]),
      }),
    );
    expect(output[0]).toMatchObject({
      type: "local_shell_call",
      status: "completed",
      action: { type: "exec", command: ["bash", "-lc", "ls -la"], working_directory: "/tmp" },
    });
    expect(output[0].call_id).toEqual(expect.any(String));
  });

  it("counts every kind of tool output item and finishes with text", async () => {
    const { output, response } = accumulateResponses(
      await postSse(`${mock.url}/v1/responses`, {
        ...base,
        input: input(["function_call_output", "custom_tool_call_output", "local_shell_call_output"]),
      }),
    );
    expect(output).toEqual([
      expect.objectContaining({ type: "message", role: "assistant", content: [expect.objectContaining({ text: "Finished." })] }),
    ]);
    expect(response.usage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
  });

  it("returns function_call for a function tool even when the name only matches case-insensitively", async () => {
    const res = await post(`${mock.url}/v1/responses`, {
      model: "m",
      input: "hello",
      tools: [{ type: "function", name: "Shell", parameters: {} }],
    });
    const body = (await res.json()) as any;
    expect(body.object).toBe("response");
    expect(body.status).toBe("completed");
    expect(body.output.at(-1)).toMatchObject({ type: "function_call", name: "Shell" });
  });
});

describe("OpenAI Responses JSON", () => {
  it("returns the finished response", async () => {
    const res = await post(`${mock.url}/v1/responses`, { ...base, stream: false, input: input([]) });
    const body = (await res.json()) as any;
    expect(body.output.map((o: any) => o.type)).toEqual(["reasoning", "message", "function_call"]);
    expect(body.output[0].encrypted_content).toBeUndefined();
    expect(body.usage.total_tokens).toBe(body.usage.input_tokens + body.usage.output_tokens);
  });
});
