import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider, type MockScript, type RecordedRequest } from "../../src/mock/index.js";
import { accumulateAnthropic, accumulateChat, accumulateResponses, parseSse, post, postSse } from "./helpers.js";

const started: MockProvider[] = [];
async function start(opts: Parameters<typeof startMockProvider>[0] = {}): Promise<MockProvider> {
  const m = await startMockProvider(opts);
  started.push(m);
  return m;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.close()));
});

const anthropicBody = { model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }], tools: [{ name: "bash", input_schema: {} }] };
const chatBody = { model: "m", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: { name: "bash" } }] };
const responsesBody = { model: "m", input: "hi", tools: [{ type: "function", name: "bash" }] };

async function recorded(mock: MockProvider): Promise<RecordedRequest[]> {
  const res = await fetch(`${mock.url}/_mock/requests`);
  expect(res.status).toBe(200);
  return (await res.json()) as RecordedRequest[];
}

describe("error steps", () => {
  const script: MockScript = { steps: [{ error: { status: 529, message: "Overloaded" } }] };

  it("answer in each API's native error shape, streaming or not", async () => {
    const mock = await start({ script });
    for (const stream of [false, true]) {
      const a = await post(`${mock.url}/v1/messages`, { ...anthropicBody, stream });
      expect(a.status).toBe(529);
      expect(await a.json()).toEqual({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });

      const c = await post(`${mock.url}/v1/chat/completions`, { ...chatBody, stream });
      expect(c.status).toBe(529);
      expect(await c.json()).toEqual({ error: { message: "Overloaded", type: "server_error", param: null, code: null } });

      const r = await post(`${mock.url}/v1/responses`, { ...responsesBody, stream });
      expect(r.status).toBe(529);
      expect(((await r.json()) as any).error).toMatchObject({ message: "Overloaded", type: "server_error" });
    }
    // Without `times` the error is permanent, also for tool-less requests.
    const again = await post(`${mock.url}/v1/messages`, { model: "m", messages: [{ role: "user", content: "hi" }] });
    expect(again.status).toBe(529);
    expect((await recorded(mock)).every((r) => r.reply === "error" && r.status === 529 && r.stepIndex === 0)).toBe(true);
  });

  it("with times, retries move past the error; type, code and retry-after are honoured", async () => {
    const mock = await start({
      script: {
        steps: [
          { error: { status: 429, message: "slow down", code: "rate_limit_exceeded", retry_after: 0, times: 2 } },
          { text: "recovered" },
        ],
      },
    });
    const first = await post(`${mock.url}/v1/chat/completions`, chatBody);
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("0");
    expect(((await first.json()) as any).error).toMatchObject({ code: "rate_limit_exceeded", message: "slow down" });
    const second = await post(`${mock.url}/v1/messages`, anthropicBody);
    expect(second.status).toBe(429);
    expect(((await second.json()) as any).error.type).toBe("rate_limit_error");
    const third = await post(`${mock.url}/v1/chat/completions`, chatBody);
    expect(third.status).toBe(200);
    expect(((await third.json()) as any).choices[0].message.content).toBe("recovered");

    // Clearing the log also resets the error counters.
    expect((await fetch(`${mock.url}/_mock/requests`, { method: "DELETE" })).status).toBe(204);
    expect((await post(`${mock.url}/v1/chat/completions`, chatBody)).status).toBe(429);
  });

  it("malformed JSON gets 400 in the API's shape", async () => {
    const mock = await start();
    const a = await post(`${mock.url}/v1/messages`, "{not json");
    expect(a.status).toBe(400);
    expect(((await a.json()) as any)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const c = await post(`${mock.url}/chat/completions`, "[1,2]");
    expect(c.status).toBe(400);
    expect(((await c.json()) as any).error).toMatchObject({ type: "invalid_request_error", message: expect.any(String) });
    const r = await post(`${mock.url}/v1/responses`, "");
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.type).toBe("invalid_request_error");
  });
});

describe("side requests and the end of the script", () => {
  it("a request without tools at a tool step gets short text and does not advance", async () => {
    const mock = await start();
    const title = await post(`${mock.url}/v1/messages`, {
      model: "haiku",
      stream: true,
      messages: [{ role: "user", content: "Write a title for: write hello.txt" }],
    });
    const msg = accumulateAnthropic(parseSse(await title.text()));
    expect(msg.content).toEqual([{ type: "text", text: "mock" }]);
    expect(msg.stop_reason).toBe("end_turn");

    const chat = accumulateChat(
      await postSse(`${mock.url}/v1/chat/completions`, { model: "m", stream: true, messages: [{ role: "user", content: "x" }], tools: [] }),
    );
    expect(chat).toMatchObject({ content: "mock", finishReason: "stop", toolCalls: [] });

    const resp = accumulateResponses(await postSse(`${mock.url}/v1/responses`, { model: "m", stream: true, input: "x" }));
    expect(resp.output).toEqual([expect.objectContaining({ type: "message" })]);
    expect(resp.output[0].content[0].text).toBe("mock");

    // The main request still gets the scripted tool call.
    const main = (await (await post(`${mock.url}/v1/messages`, anthropicBody)).json()) as any;
    expect(main.content[0]).toMatchObject({ type: "tool_use", name: "bash" });

    const log = await recorded(mock);
    expect(log.map((r) => [r.reply, r.stepIndex])).toEqual([
      ["side", 0],
      ["side", 0],
      ["side", 0],
      ["tool_calls", 0],
    ]);
  });

  it("past the end the mock says the script is finished", async () => {
    const mock = await start({ script: { steps: [{ text: "only" }] } });
    const body = {
      model: "m",
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: [{ type: "tool_use", id: "t", name: "bash", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "ok" }] },
      ],
    };
    const res = (await (await post(`${mock.url}/v1/messages`, body)).json()) as any;
    expect(res.content).toEqual([{ type: "text", text: "(mock script finished)" }]);
    expect((await recorded(mock))[0]).toMatchObject({ stepIndex: 1, toolResults: 1, reply: "finished" });
  });
});

describe("auth and redaction", () => {
  it("requireKey: wrong or missing keys get 401 in each API's shape; x-api-key and Bearer both work", async () => {
    const key = `canary-${randomBytes(12).toString("hex")}`;
    const mock = await start({ requireKey: key });

    const noKey = await post(`${mock.url}/v1/messages`, anthropicBody);
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as any)).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    const wrongChat = await post(`${mock.url}/v1/chat/completions`, chatBody, { authorization: "Bearer nope" });
    expect(wrongChat.status).toBe(401);
    expect(((await wrongChat.json()) as any).error).toMatchObject({ code: "invalid_api_key" });
    const wrongResp = await post(`${mock.url}/v1/responses`, responsesBody, { "x-api-key": `${key}x` });
    expect(wrongResp.status).toBe(401);
    expect((await fetch(`${mock.url}/v1/models`)).status).toBe(401);

    expect((await post(`${mock.url}/v1/messages`, anthropicBody, { "x-api-key": key })).status).toBe(200);
    expect((await post(`${mock.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${key}` })).status).toBe(200);
    expect((await fetch(`${mock.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    // Housekeeping endpoints stay open.
    expect((await fetch(`${mock.url}/health`)).status).toBe(200);

    const log = await recorded(mock);
    expect(log.map((r) => r.authOk)).toEqual([false, false, false, false, true, true, true]);
    expect(log.map((r) => r.status)).toEqual([401, 401, 401, 401, 200, 200, 200]);
  });

  it("never records or logs key values, and redacts credential headers", async () => {
    const key = `sk-canary-${randomBytes(16).toString("hex")}`;
    const wrong = `sk-wrong-canary-${randomBytes(16).toString("hex")}`;
    const lines: string[] = [];
    const plain: string[] = [];
    const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
    const mock = await start({
      requireKey: key,
      logger: { info: (o, msg) => plain.push(JSON.stringify(o) + (msg ?? "")) },
    });
    const mock2 = await start({ requireKey: key, logger });

    for (const m of [mock, mock2]) {
      await post(`${m.url}/v1/messages`, { ...anthropicBody, stream: true }, {
        "x-api-key": key,
        cookie: `session=${key}`,
        "x-custom-token": key,
        "api-key": key,
        "x-trace": "visible-value",
      });
      await (await post(`${m.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${key}` })).text();
      await (await post(`${m.url}/v1/responses`, responsesBody, { authorization: `Bearer ${wrong}` })).text();
      await (await post(`${m.url}/v1/messages`, anthropicBody, { "x-api-key": wrong })).text();
    }
    // Loggers run when the response closes; give the last one a moment.
    await new Promise((r) => setTimeout(r, 50));

    for (const m of [mock, mock2]) {
      const viaHttp = JSON.stringify(await recorded(m));
      const inMemory = JSON.stringify(m.requests);
      for (const text of [viaHttp, inMemory]) {
        expect(text).not.toContain(key);
        expect(text).not.toContain(wrong);
        expect(text).not.toContain("canary");
      }
      expect(m.requests).toHaveLength(4);
      const h = m.requests[0]!.headers;
      expect(h["x-api-key"]).toBe("[REDACTED]");
      expect(h.cookie).toBe("[REDACTED]");
      expect(h["x-custom-token"]).toBe("[REDACTED]");
      expect(h["api-key"]).toBe("[REDACTED]");
      expect(h["x-trace"]).toBe("visible-value");
      expect(m.requests[1]!.headers.authorization).toBe("[REDACTED]");
      expect(m.requests.map((r) => r.authOk)).toEqual([true, true, false, false]);
    }
    expect(plain).toHaveLength(4);
    expect(lines).toHaveLength(4);
    for (const out of [plain.join("\n"), lines.join("")]) {
      expect(out).not.toContain(key);
      expect(out).not.toContain(wrong);
      expect(out).toContain("[REDACTED]");
    }
  });
});

describe("recording and inspection", () => {
  it("records method, path, api, model, stream, step, tools and status; DELETE clears", async () => {
    const mock = await start();
    await postSse(`${mock.url}/v1/messages?beta=true`, { ...anthropicBody, model: "claude-x", stream: true });
    await post(`${mock.url}/chat/completions`, { ...chatBody, messages: [...chatBody.messages, { role: "tool", content: "ok", tool_call_id: "a" }] });
    await post(`${mock.url}/v1/nope`, {});
    const log = await recorded(mock);
    expect(log).toHaveLength(3);
    expect(log[0]).toMatchObject({
      method: "POST",
      path: "/v1/messages",
      api: "anthropic",
      model: "claude-x",
      stream: true,
      stepIndex: 0,
      toolResults: 0,
      authOk: null,
      tools: ["bash"],
      status: 200,
      reply: "tool_calls",
      aborted: false,
    });
    expect(new Date(log[0]!.time).getTime()).not.toBeNaN();
    expect(log[1]).toMatchObject({ path: "/chat/completions", api: "openai-chat", stepIndex: 1, stream: false, reply: "text" });
    expect(log[2]).toMatchObject({ path: "/v1/nope", api: null, status: 404 });

    expect((await fetch(`${mock.url}/_mock/requests`, { method: "DELETE" })).status).toBe(204);
    expect(await recorded(mock)).toEqual([]);
    expect(mock.requests).toEqual([]);
  });

  it("lists models in a shape both SDK families read, with and without /v1", async () => {
    const mock = await start({ script: { models: ["alpha", "beta"], steps: [{ text: "x" }] } });
    for (const path of ["/v1/models", "/models"]) {
      const body = (await (await fetch(`${mock.url}${path}`)).json()) as any;
      expect(body.object).toBe("list");
      expect(body.data.map((m: any) => m.id)).toEqual(["alpha", "beta"]);
      expect(body.data[0]).toMatchObject({ object: "model", type: "model", display_name: "alpha" });
      expect(body.has_more).toBe(false);
    }
    const def = await start();
    expect(((await (await fetch(`${def.url}/v1/models`)).json()) as any).data.map((m: any) => m.id)).toEqual(["mock-1"]);
    expect(((await (await fetch(`${def.url}/v1/models/anything`)).json()) as any).id).toBe("anything");
    // A response without a model in the request falls back to the script's first model.
    const res = (await (await post(`${mock.url}/v1/chat/completions`, { messages: [] })).json()) as any;
    expect(res.model).toBe("alpha");
  });

  it("health, 404 and 405", async () => {
    const mock = await start();
    expect(await (await fetch(`${mock.url}/health`)).json()).toMatchObject({ ok: true });
    expect((await fetch(`${mock.url}/v1/messages`)).status).toBe(405);
    const nf = await fetch(`${mock.url}/v2/whatever`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as any).error.message).toContain("/v2/whatever");
  });

  it("accepts gzip-compressed request bodies", async () => {
    const mock = await start();
    const res = await fetch(`${mock.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipSync(JSON.stringify(responsesBody)),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).output[0].type).toBe("function_call");
  });
});

describe("connection robustness", () => {
  it("survives clients that disconnect mid-stream and marks the request aborted", async () => {
    const mock = await start({ script: { steps: [{ text: "word ".repeat(200), chunk_delay_ms: 10 }] } });
    const ctrl = new AbortController();
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ ...anthropicBody, stream: true }),
      signal: ctrl.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ctrl.abort();
    await reader.read().catch(() => undefined);

    // A raw socket that vanishes right after sending its request.
    await new Promise<void>((resolve) => {
      const sock = connect(mock.port, "127.0.0.1", () => {
        const body = JSON.stringify({ ...chatBody, stream: true });
        sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        sock.once("data", () => {
          sock.destroy();
          resolve();
        });
      });
    });
    // And one that sends half a body, then leaves.
    await new Promise<void>((resolve) => {
      const sock = connect(mock.port, "127.0.0.1", () => {
        sock.write("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{\"mod");
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 20);
      });
    });

    await expect.poll(() => mock.requests[0]?.aborted, { timeout: 3000 }).toBe(true);
    expect((await fetch(`${mock.url}/health`)).status).toBe(200);
    const ok = accumulateChat(await postSse(`${mock.url}/v1/chat/completions`, { model: "m", stream: true, messages: [] }));
    expect(ok.content).toBe("word ".repeat(200));
  });

  it("serves many requests over kept-alive connections and closes promptly with an open stream", async () => {
    const mock = await start({ script: { steps: [{ text: "slow", delay_ms: 60_000 }] } });
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${mock.url}/v1/models`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const pending = fetch(`${mock.url}/v1/messages`, { method: "POST", body: JSON.stringify(anthropicBody) }).catch(
      (e: unknown) => e,
    );
    await expect.poll(() => mock.requests.length).toBe(21);
    const t0 = Date.now();
    await mock.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await pending).toBeInstanceOf(Error);
  });

  it("honours delay_ms and chunk_delay_ms", async () => {
    const mock = await start({ script: { steps: [{ text: "a b c d e f g h i", delay_ms: 150, chunk_delay_ms: 20 }] } });
    const t0 = Date.now();
    const events = await postSse(`${mock.url}/v1/responses`, { model: "m", stream: true, input: "x" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150 + 20 * (events.length - 1) - 10);
    expect(accumulateResponses(events).output[0].content[0].text).toBe("a b c d e f g h i");
  });
});

describe("programmatic scripts", () => {
  it("are validated like files", async () => {
    await expect(startMockProvider({ script: { steps: [{ tool: { name: "" } }] } as MockScript })).rejects.toThrow(
      /options\.script.*steps\[0\]\.tool\.name/,
    );
  });
});
