import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../../src/mock/index.js";
import { MODEL_APIS, type ModelApi } from "../../../src/wire/apis.js";
import { computeCost } from "../../../src/wire/usage/cost.js";
import { createRequestTap } from "../../../src/wire/request-tap.js";
import { createUsageTap } from "../../../src/wire/usage/tap.js";
import type { ModelUsage } from "../../../src/wire/usage/types.js";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

function tapAll(api: ModelApi, contentType: string | undefined, pieces: Buffer[]): ModelUsage {
  const tap = createUsageTap(api, contentType);
  for (const p of pieces) tap.write(p);
  return tap.end();
}

/** Feeds `buf` split in two at every byte position, and byte by byte, expecting the same result each time. */
function expectAtEverySplit(api: ModelApi, contentType: string | undefined, buf: Buffer, expected: ModelUsage): void {
  expect(tapAll(api, contentType, [buf])).toEqual(expected);
  for (let i = 0; i <= buf.length; i++) {
    const got = tapAll(api, contentType, [buf.subarray(0, i), buf.subarray(i)]);
    if (JSON.stringify(got) !== JSON.stringify(expected)) expect({ split: i, got }).toEqual({ split: i, got: expected });
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1));
  expect(tapAll(api, contentType, bytes)).toEqual(expected);
}

const ANTHROPIC_SSE: ModelUsage = {
  inputTokens: 472 + 2048 + 1024,
  outputTokens: 89,
  cacheReadTokens: 2048,
  cacheWriteTokens: 1024,
  responseModel: "claude-sonnet-4-5-20250929",
  responseId: "msg_014p7gG3wDgGV9EUtLvnow3U",
  finishReasons: ["tool_use"],
  reported: true,
};
const CHAT_SSE: ModelUsage = {
  inputTokens: 1117,
  outputTokens: 46,
  cacheReadTokens: 1024,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  responseModel: "gpt-4o-2024-08-06",
  responseId: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  finishReasons: ["tool_calls"],
  reported: true,
};
const RESPONSES_SSE: ModelUsage = {
  inputTokens: 2817,
  outputTokens: 412,
  cacheReadTokens: 2304,
  cacheWriteTokens: 0,
  reasoningTokens: 320,
  responseModel: "gpt-5-codex-2025-09-15",
  responseId: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
  finishReasons: ["completed"],
  reported: true,
};

const GEMINI_STREAM: ModelUsage = {
  inputTokens: 8,
  outputTokens: 12 + 30,
  cacheReadTokens: 4,
  cacheWriteTokens: 0,
  reasoningTokens: 30,
  responseModel: "gemini-2.5-flash",
  responseId: "mJ3NaOeZBPqQ-8YP4cC0yAk",
  finishReasons: ["STOP"],
  reported: true,
};

const SSE_CASES: [ModelApi, string, ModelUsage][] = [
  ["anthropic-messages", "anthropic-messages.sse", ANTHROPIC_SSE],
  ["openai-chat", "openai-chat.sse", CHAT_SSE],
  ["openai-responses", "openai-responses.sse", RESPONSES_SSE],
  ["google-generative-ai", "gemini-stream.sse", GEMINI_STREAM],
];

const JSON_CASES: [ModelApi, string, ModelUsage][] = [
  [
    "anthropic-messages",
    "anthropic-messages.json",
    {
      inputTokens: 12 + 3000,
      outputTokens: 6,
      cacheReadTokens: 3000,
      cacheWriteTokens: 0,
      responseModel: "claude-haiku-4-5-20251001",
      responseId: "msg_01XFDUDYJgAACzvnptvVoYEL",
      finishReasons: ["end_turn"],
      reported: true,
    },
  ],
  [
    "openai-chat",
    "openai-chat.json",
    {
      inputTokens: 19,
      outputTokens: 10,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      responseModel: "gpt-4.1-2025-04-14",
      responseId: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
      finishReasons: ["stop", "length"],
      reported: true,
    },
  ],
  [
    "openai-responses",
    "openai-responses.json",
    {
      inputTokens: 36,
      outputTokens: 64,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      responseModel: "gpt-4o-2024-08-06",
      responseId: "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
      finishReasons: ["max_output_tokens"],
      reported: true,
    },
  ],
  // streamGenerateContent without alt=sse: a JSON array of the same chunks.
  ["google-generative-ai", "gemini-stream-array.json", GEMINI_STREAM],
];

describe("usage taps: recorded SSE streams", () => {
  for (const [api, file, expected] of SSE_CASES) {
    it(`${api}: same usage whatever the chunk boundaries (LF)`, () => {
      expectAtEverySplit(api, "text/event-stream; charset=utf-8", fixture(file), expected);
    });
    it(`${api}: CRLF and CR line endings, split everywhere`, () => {
      const lf = fixture(file).toString("utf8");
      expectAtEverySplit(api, "text/event-stream", Buffer.from(lf.replace(/\n/g, "\r\n")), expected);
      expect(tapAll(api, "text/event-stream", [Buffer.from(lf.replace(/\n/g, "\r"))])).toEqual(expected);
    });
    it(`${api}: sniffs SSE without a content type`, () => {
      expect(tapAll(api, undefined, [fixture(file)])).toEqual(expected);
    });
  }

  it("random three-way splits agree too", () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (const [api, file, expected] of SSE_CASES) {
      const buf = fixture(file);
      for (let k = 0; k < 300; k++) {
        const a = rnd(buf.length), b = a + rnd(buf.length - a);
        expect(tapAll(api, "text/event-stream", [buf.subarray(0, a), buf.subarray(a, b), buf.subarray(b)])).toEqual(expected);
      }
    }
  });

  it("a stream cut off mid-way keeps what it carried (message_start's input, no final counts)", () => {
    const buf = fixture("anthropic-messages.sse");
    const cut = buf.indexOf("event: message_delta");
    expect(tapAll("anthropic-messages", "text/event-stream", [buf.subarray(0, cut)])).toEqual({
      ...ANTHROPIC_SSE,
      outputTokens: 2,
      finishReasons: undefined,
    } as ModelUsage);
    // The final event without its terminating blank line still counts.
    const noBlank = buf.toString("utf8").replace(/\n+$/, "");
    expect(tapAll("anthropic-messages", "text/event-stream", [Buffer.from(noBlank)])).toEqual(ANTHROPIC_SSE);
  });

  it("multi-line data, comments, id/retry fields and no space after the colon", () => {
    const text = [
      ": keep-alive comment",
      "retry: 1000",
      "id: 1",
      "event:message_start",
      'data:{"type":"message_start","message":{"model":"m1","usage":',
      'data: {"input_tokens":10,"output_tokens":1}}}',
      "",
      "event: message_delta",
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}',
      "",
      "",
    ].join("\n");
    expectAtEverySplit("anthropic-messages", "text/event-stream", Buffer.from(text), {
      inputTokens: 10,
      outputTokens: 7,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      responseModel: "m1",
      finishReasons: ["end_turn"],
      reported: true,
    });
  });

  it("reports an error event inside a 200 stream", () => {
    const text =
      'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
      'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n';
    const u = tapAll("anthropic-messages", "text/event-stream", [Buffer.from(text)]);
    expect(u.streamError).toBe("overloaded_error");
    expect(u.inputTokens).toBe(5);
    const failed =
      'event: response.failed\ndata: {"type":"response.failed","response":{"id":"r","status":"failed","model":"gpt-5","error":{"code":"server_error","message":"x"},"usage":null}}\n\n';
    const r = tapAll("openai-responses", "text/event-stream", [Buffer.from(failed)]);
    expect(r).toMatchObject({ streamError: "server_error", finishReasons: ["failed"], reported: false, responseModel: "gpt-5" });
  });

  it("an OpenAI chat stream without include_usage reports no usage, but still the model and finish reason", () => {
    const text = fixture("openai-chat.sse")
      .toString("utf8")
      .split("\n\n")
      .filter((e) => !e.includes('"choices":[]'))
      .join("\n\n");
    expect(tapAll("openai-chat", "text/event-stream", [Buffer.from(text)])).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      responseModel: "gpt-4o-2024-08-06",
      responseId: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
      finishReasons: ["tool_calls"],
      reported: false,
    });
  });

  it("reads DeepSeek's and Moonshot's cache-hit fields", () => {
    const ds = '{"model":"deepseek-chat","choices":[{"index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}';
    expect(tapAll("openai-chat", "application/json", [Buffer.from(ds)])).toMatchObject({ inputTokens: 100, cacheReadTokens: 64 });
    const kimi = '{"model":"kimi-k2","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"cached_tokens":50}}';
    expect(tapAll("openai-chat", "application/json", [Buffer.from(kimi)])).toMatchObject({ cacheReadTokens: 50 });
  });
});

describe("usage taps: JSON bodies", () => {
  for (const [api, file, expected] of JSON_CASES) {
    it(`${api}: same usage whatever the chunk boundaries`, () => {
      expectAtEverySplit(api, "application/json", fixture(file), expected);
      expect(tapAll(api, undefined, [fixture(file)])).toEqual(expected); // sniffed
    });
  }

  it("garbage and truncated bodies give zeros, never an exception", () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (const api of MODEL_APIS) {
      for (const ct of ["application/json", "text/event-stream", undefined]) {
        const junk = Buffer.from(Array.from({ length: 4096 }, rnd));
        const u = tapAll(api, ct, [junk, Buffer.from("{{{{[[[\"\\u12"), Buffer.from("]]]}}}}\n\n")]);
        expect(u.inputTokens).toBeGreaterThanOrEqual(0);
        const half = fixture(JSON_CASES.find((c) => c[0] === api)![1]);
        expect(() => tapAll(api, ct, [half.subarray(0, half.length >> 1)])).not.toThrow();
      }
    }
    // Deep nesting stops the scan instead of growing a stack without bound.
    const deep = Buffer.from("[".repeat(100_000) + '{"usage":{"input_tokens":1}}');
    expect(tapAll("openai-responses", "application/json", [deep]).reported).toBe(false);
  });

  it("compressed bodies and unknown APIs are not read", () => {
    const gz = createUsageTap("openai-chat", "application/json", "gzip");
    gz.write(fixture("openai-chat.json"));
    expect(gz.end().reported).toBe(false);
    const other = createUsageTap("some-future-api", "application/json");
    other.write(fixture("openai-chat.json"));
    expect(other.end()).toEqual({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reported: false });
  });

  it("keeps memory bounded: a multi-megabyte response.completed and JSON body still yield their usage", () => {
    const big = "é🌍x".repeat(600_000); // ~4.8 MB of UTF-8
    const completed = {
      type: "response.completed",
      response: {
        id: "resp_big",
        model: "gpt-5",
        status: "completed",
        output: [{ type: "message", content: [{ type: "output_text", text: big }] }],
        tools: [{ type: "function", name: "f", description: big.slice(0, 10_000) }],
        usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 1_000_000, output_tokens_details: { reasoning_tokens: 0 } },
      },
    };
    const sse = Buffer.from(`event: response.completed\ndata: ${JSON.stringify(completed)}\n\n`);
    const tap = createUsageTap("openai-responses", "text/event-stream");
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < sse.length; i += 16 * 1024) tap.write(sse.subarray(i, i + 16 * 1024));
    const u = tap.end();
    const grown = process.memoryUsage().heapUsed - before;
    expect(u).toMatchObject({ inputTokens: 10, outputTokens: 1_000_000, responseModel: "gpt-5", finishReasons: ["completed"] });
    // Loose bound (GC timing varies), far below the size of the event itself.
    expect(grown).toBeLessThan(sse.length / 2);

    const body = Buffer.from(JSON.stringify({ model: "gpt-4.1", choices: [{ index: 0, message: { content: big }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 4 } }));
    const j = createUsageTap("openai-chat", "application/json");
    for (let i = 0; i < body.length; i += 64 * 1024) j.write(body.subarray(i, i + 64 * 1024));
    expect(j.end()).toMatchObject({ inputTokens: 3, outputTokens: 4, finishReasons: ["stop"] });
  });

  it("end() can be called again and returns the same result", () => {
    const tap = createUsageTap("openai-chat", "application/json");
    tap.write(fixture("openai-chat.json"));
    expect(tap.end()).toEqual(tap.end());
  });
});

describe("usage taps against berth's own mock provider", () => {
  let mock: MockProvider;
  beforeAll(async () => {
    mock = await startMockProvider({ script: { steps: [{ thinking: "hmm — ok", text: "Hello wörld 🌍 ".repeat(50), tool: { name: "Bash", input: { command: "ls" } } }, { text: "done" }] } });
  });
  afterAll(() => mock.close());

  const requests: [ModelApi, string, Record<string, unknown>][] = [
    ["anthropic-messages", "/v1/messages", { model: "claude-sonnet-4-5", max_tokens: 1024, tools: [{ name: "Bash", input_schema: { type: "object" } }], messages: [{ role: "user", content: "hi" }] }],
    ["openai-chat", "/v1/chat/completions", { model: "gpt-4.1", stream_options: { include_usage: true }, tools: [{ type: "function", function: { name: "Bash", parameters: { type: "object" } } }], messages: [{ role: "user", content: "hi" }] }],
    ["openai-responses", "/v1/responses", { model: "gpt-5-codex", tools: [{ type: "function", name: "Bash", parameters: { type: "object" } }], input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] }],
    ["google-generative-ai", "/v1beta/models/gemini-2.5-flash:{method}", { tools: [{ functionDeclarations: [{ name: "Bash", parameters: { type: "object" } }] }], contents: [{ role: "user", parts: [{ text: "hi" }] }] }],
  ];

  /** The usage block as a full parse of the whole body finds it. */
  function fullParse(api: ModelApi, body: string, sse: boolean): { input: number; output: number; model: string } {
    const docs = sse
      ? body
          .split(/\n\n/)
          .flatMap((e) => e.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)))
          .filter((d) => d !== "[DONE]")
          .map((d) => JSON.parse(d))
      : [JSON.parse(body)];
    if (api === "anthropic-messages") {
      const start = sse ? docs.find((d) => d.type === "message_start").message : docs[0];
      const u = { ...start.usage, ...(sse ? docs.find((d) => d.type === "message_delta").usage : {}) };
      return { input: u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens, output: u.output_tokens, model: start.model };
    }
    if (api === "openai-chat") {
      const d = docs.find((x) => x.usage);
      return { input: d.usage.prompt_tokens, output: d.usage.completion_tokens, model: d.model };
    }
    if (api === "google-generative-ai") {
      const last = docs[docs.length - 1];
      const u = last.usageMetadata;
      return { input: u.promptTokenCount, output: u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0), model: last.modelVersion };
    }
    const r = sse ? docs.find((d) => d.type === "response.completed").response : docs[0];
    return { input: r.usage.input_tokens, output: r.usage.output_tokens, model: r.model };
  }

  for (const [api, path, req] of requests) {
    for (const stream of [true, false]) {
      it(`${api} ${stream ? "stream" : "JSON"}: the tap agrees with a full parse of the real response`, async () => {
        const url = mock.url + path.replace("{method}", stream ? "streamGenerateContent?alt=sse" : "generateContent");
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(api === "google-generative-ai" ? req : { ...req, stream }) });
        expect(res.status).toBe(200);
        const tap = createUsageTap(api, res.headers.get("content-type") ?? undefined);
        const chunks: Buffer[] = [];
        for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
          chunks.push(Buffer.from(c));
          tap.write(Buffer.from(c));
        }
        const u = tap.end();
        const want = fullParse(api, Buffer.concat(chunks).toString("utf8"), stream);
        expect(u.reported).toBe(true);
        expect(u.inputTokens).toBe(want.input);
        expect(u.outputTokens).toBe(want.output);
        expect(u.responseModel).toBe(want.model);
        expect(u.inputTokens).toBeGreaterThan(0);
        expect(u.finishReasons?.length).toBe(1);
      });
    }
  }
});


describe("computeCost", () => {
  const usage = { inputTokens: 1_000_000 + 2_000_000 + 500_000, outputTokens: 100_000, cacheReadTokens: 2_000_000, cacheWriteTokens: 500_000 };
  it("charges uncached input, cache reads, cache writes and output at their own rates", () => {
    // Sonnet-style prices: $3 in, $15 out, $0.30 cache read, $3.75 cache write per Mtok.
    expect(computeCost(usage, { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 })).toBeCloseTo(3 + 0.6 + 1.875 + 1.5, 10);
  });
  it("falls back to the input price for cache tokens, and to undefined without a price", () => {
    expect(computeCost(usage, { input: 2, output: 8 })).toBeCloseTo(2 * 3.5 + 0.8, 10);
    expect(computeCost(usage, undefined)).toBeUndefined();
    expect(computeCost({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 }, { input: 1, output: 1 })).toBe(0);
  });
});

describe("createRequestTap", () => {
  it("finds the top-level model and stream after megabytes of messages, ignoring nested ones, at any split", () => {
    const body = Buffer.from(
      JSON.stringify({
        max_tokens: 32000,
        messages: [{ role: "user", content: [{ type: "text", text: '{"model":"decoy","stream":false} ' + "ü".repeat(20_000) }], model: "nested-decoy" }],
        metadata: { model: "also-decoy" },
        system: [{ type: "text", text: "You are Claude Code." }],
        model: "claude-haiku-4-5-20251001",
        stream: true,
      }),
    );
    for (let i = 0; i <= body.length; i += 97) {
      const t = createRequestTap();
      t.write(body.subarray(0, i));
      t.write(body.subarray(i));
      expect(t.end()).toEqual({ model: "claude-haiku-4-5-20251001", stream: true });
    }
    const z = createRequestTap("zstd");
    z.write(body);
    expect(z.end()).toEqual({});
  });
});
