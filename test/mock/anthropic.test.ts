import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockScript } from "../../src/mock/index.js";
import { accumulateAnthropic, post, postSse } from "./helpers.js";

const script: MockScript = {
  models: ["claude-mock"],
  steps: [
    {
      thinking: "I should write the file with the shell tool.",
      text: "I'll write the file.",
      tool: { name: "bash", input: { command: "echo hi > hello.txt", note: "ünïcödé ✓ 🚀" } },
    },
    { tools: [{ name: "read", input: { path: "a.txt" } }, { name: "read", input: { path: "b.txt" } }] },
    { text: "Done. Both files read." },
  ],
};

const tools = [
  { name: "Bash", description: "run a command", input_schema: { type: "object" } },
  { name: "Read", description: "read a file", input_schema: { type: "object" } },
];

/** A conversation after `n` tool-using turns, as Claude Code would send it. */
function history(toolResultGroups: string[][]): any[] {
  const messages: any[] = [{ role: "user", content: "write hello.txt" }];
  for (const ids of toolResultGroups) {
    messages.push({ role: "assistant", content: ids.map((id) => ({ type: "tool_use", id, name: "x", input: {} })) });
    messages.push({
      role: "user",
      content: ids.map((id) => ({ type: "tool_result", tool_use_id: id, content: "ok" })),
    });
  }
  return messages;
}

let mock: MockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ script });
});
afterAll(() => mock.close());

describe("Anthropic Messages streaming", () => {
  it("streams thinking, text and a tool call in the SDK's event grammar", async () => {
    // Claude Code appends ?beta=true; the query string must not affect routing.
    const events = await postSse(`${mock.url}/v1/messages?beta=true`, {
      model: "claude-sonnet-x",
      max_tokens: 1024,
      stream: true,
      messages: history([]),
      tools,
    });
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("message_start");
    expect(names).toContain("ping");
    expect(names.slice(-2)).toEqual(["message_delta", "message_stop"]);

    const msg = accumulateAnthropic(events);
    expect(msg.model).toBe("claude-sonnet-x");
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.content.map((b) => b.type)).toEqual(["thinking", "text", "tool_use"]);
    expect(msg.content[0].thinking).toBe("I should write the file with the shell tool.");
    expect(msg.content[0].signature).toEqual(expect.any(String));
    expect(msg.content[0].signature.length).toBeGreaterThan(0);
    expect(msg.content[1].text).toBe("I'll write the file.");
    // "bash" resolves case-insensitively to the offered "Bash".
    expect(msg.content[2]).toMatchObject({
      type: "tool_use",
      name: "Bash",
      input: { command: "echo hi > hello.txt", note: "ünïcödé ✓ 🚀" },
    });
    expect(msg.content[2].id).toMatch(/^toolu_/);
    expect(msg.stop_reason).toBe("tool_use");

    // Tool input really arrives in more than one fragment, and text in several deltas.
    const jsonDeltas = events.filter((e) => e.data.includes('"input_json_delta"'));
    expect(jsonDeltas.length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.data.includes('"text_delta"')).length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.data.includes('"signature_delta"'))).toHaveLength(1);

    for (const key of ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]) {
      expect(msg.usage[key]).toEqual(expect.any(Number));
    }
    expect(msg.usage.output_tokens).toBeGreaterThan(1);
  });

  it("advances by tool_result count, parallel calls consuming one result each", async () => {
    const step1 = accumulateAnthropic(
      await postSse(`${mock.url}/v1/messages`, { model: "m", stream: true, messages: history([["t0"]]), tools }),
    );
    expect(step1.content.map((b) => [b.type, b.name, b.input])).toEqual([
      ["tool_use", "Read", { path: "a.txt" }],
      ["tool_use", "Read", { path: "b.txt" }],
    ]);
    expect(new Set(step1.content.map((b) => b.id)).size).toBe(2);
    expect(step1.stop_reason).toBe("tool_use");

    const step2 = accumulateAnthropic(
      await postSse(`${mock.url}/v1/messages`, {
        model: "m",
        stream: true,
        messages: history([["t0"], ["t1", "t2"]]),
        tools,
      }),
    );
    expect(step2.content).toEqual([{ type: "text", text: "Done. Both files read." }]);
    expect(step2.stop_reason).toBe("end_turn");

    const past = accumulateAnthropic(
      await postSse(`${mock.url}/v1/messages`, {
        model: "m",
        stream: true,
        messages: history([["t0"], ["t1", "t2"], ["t3"]]),
        tools,
      }),
    );
    expect(past.content).toEqual([{ type: "text", text: "(mock script finished)" }]);
  });

  it("reports later turns' prompt as cache reads, deterministically", async () => {
    const body = { model: "m", stream: true, messages: history([["t0"]]), tools };
    const a = accumulateAnthropic(await postSse(`${mock.url}/v1/messages`, body));
    const b = accumulateAnthropic(await postSse(`${mock.url}/v1/messages`, body));
    expect(a.usage).toEqual(b.usage);
    expect(a.usage.cache_read_input_tokens).toBeGreaterThan(0);
  });
});

describe("Anthropic Messages JSON", () => {
  it("returns a complete message without streaming", async () => {
    const res = await post(`${mock.url}/v1/messages`, { model: "m", max_tokens: 10, messages: history([]), tools });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const msg = (await res.json()) as any;
    expect(msg).toMatchObject({ type: "message", role: "assistant", model: "m", stop_reason: "tool_use", stop_sequence: null });
    expect(msg.content.map((b: any) => b.type)).toEqual(["thinking", "text", "tool_use"]);
    expect(msg.content[2].input).toEqual({ command: "echo hi > hello.txt", note: "ünïcödé ✓ 🚀" });
    expect(Object.keys(msg.usage).sort()).toEqual(
      ["cache_creation_input_tokens", "cache_read_input_tokens", "input_tokens", "output_tokens"].sort(),
    );
  });

  it("serves count_tokens with and without the /v1 prefix", async () => {
    for (const path of ["/v1/messages/count_tokens?beta=true", "/messages/count_tokens"]) {
      const res = await post(`${mock.url}${path}`, { model: "m", messages: history([["t0"]]), tools });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body.input_tokens).toBeGreaterThan(0);
      expect(Object.keys(body)).toEqual(["input_tokens"]);
    }
  });

  it("works with a prefix-less base URL", async () => {
    const res = await post(`${mock.url}/messages`, { model: "m", messages: history([["t0"], ["t1", "t2"]]), tools });
    expect(((await res.json()) as any).content[0].text).toBe("Done. Both files read.");
  });
});
