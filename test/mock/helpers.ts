import { expect } from "vitest";

/** Test-side wire parsing, written to mirror what the official SDKs do with a stream. */

export interface ParsedSse {
  event: string | null;
  data: string;
}

/** A spec-following SSE parser (multi-line data, comments, CRLF), independent of the server's framing code. */
export function parseSse(text: string): ParsedSse[] {
  const out: ParsedSse[] = [];
  let event: string | null = null;
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (data.length > 0) out.push({ event, data: data.join("\n") });
      event = null;
      data = [];
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return out;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function postSse(url: string, body: unknown, headers: Record<string, string> = {}): Promise<ParsedSse[]> {
  const res = await post(url, body, headers);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return parseSse(await res.text());
}

// ---------------------------------------------------------------------------
// Anthropic: the state machine of @anthropic-ai/sdk's MessageStream.

export interface AnthropicMessage {
  id: string;
  model: string;
  role: string;
  content: any[];
  stop_reason: string | null;
  usage: Record<string, number>;
}

export function accumulateAnthropic(events: ParsedSse[]): AnthropicMessage {
  let message: AnthropicMessage | undefined;
  let open: number | null = null;
  const jsonBuf = new Map<number, string>();
  let stopped = false;
  for (const ev of events) {
    expect(stopped, "nothing may follow message_stop").toBe(false);
    const data = JSON.parse(ev.data);
    // The SDK dispatches on the SSE event name; the payload type must agree.
    expect(ev.event).toBe(data.type);
    switch (data.type) {
      case "message_start":
        expect(message).toBeUndefined();
        expect(data.message.content).toEqual([]);
        expect(data.message.stop_reason).toBeNull();
        message = structuredClone(data.message);
        break;
      case "ping":
        break;
      case "content_block_start":
        expect(message).toBeDefined();
        expect(open).toBeNull();
        expect(data.index).toBe(message!.content.length);
        message!.content.push(structuredClone(data.content_block));
        open = data.index;
        break;
      case "content_block_delta": {
        expect(data.index).toBe(open);
        const block = message!.content[data.index];
        const d = data.delta;
        if (d.type === "text_delta") {
          expect(block.type).toBe("text");
          block.text += d.text;
        } else if (d.type === "input_json_delta") {
          expect(block.type).toBe("tool_use");
          expect(typeof d.partial_json).toBe("string");
          jsonBuf.set(data.index, (jsonBuf.get(data.index) ?? "") + d.partial_json);
        } else if (d.type === "thinking_delta") {
          expect(block.type).toBe("thinking");
          block.thinking += d.thinking;
        } else if (d.type === "signature_delta") {
          expect(block.type).toBe("thinking");
          block.signature = d.signature;
        } else {
          throw new Error(`unknown delta type ${d.type}`);
        }
        break;
      }
      case "content_block_stop": {
        expect(data.index).toBe(open);
        const block = message!.content[data.index];
        if (block.type === "tool_use") {
          const buf = jsonBuf.get(data.index) ?? "";
          block.input = buf === "" ? {} : JSON.parse(buf);
        }
        open = null;
        break;
      }
      case "message_delta":
        expect(open).toBeNull();
        message!.stop_reason = data.delta.stop_reason;
        // The SDK overwrites output_tokens and any input-side counts present here.
        for (const [k, v] of Object.entries(data.usage)) if (v !== null) message!.usage[k] = v as number;
        break;
      case "message_stop":
        stopped = true;
        break;
      case "error":
        throw new Error(`stream error: ${ev.data}`);
      default:
        throw new Error(`unknown event ${data.type}`);
    }
  }
  expect(stopped, "stream must end with message_stop").toBe(true);
  return message!;
}

// ---------------------------------------------------------------------------
// OpenAI Chat Completions: openai-node's ChatCompletionStream accumulation.

export interface ChatResult {
  id: string;
  content: string | null;
  reasoning: string | null;
  toolCalls: { id: string; type: string; name: string; arguments: string }[];
  finishReason: string | null;
  usage: any;
  chunks: any[];
}

export function accumulateChat(events: ParsedSse[]): ChatResult {
  expect(events.at(-1)?.data).toBe("[DONE]");
  const chunks = events.slice(0, -1).map((e) => {
    expect(e.event).toBeNull();
    return JSON.parse(e.data);
  });
  const result: ChatResult = {
    id: chunks[0].id,
    content: null,
    reasoning: null,
    toolCalls: [],
    finishReason: null,
    usage: null,
    chunks,
  };
  for (const c of chunks) {
    expect(c.object).toBe("chat.completion.chunk");
    expect(c.id).toBe(result.id);
    if (c.usage) result.usage = c.usage;
    for (const choice of c.choices) {
      expect(choice.index).toBe(0);
      expect(result.finishReason, "no deltas after finish_reason").toBeNull();
      const d = choice.delta;
      if (typeof d.content === "string") result.content = (result.content ?? "") + d.content;
      if (typeof d.reasoning_content === "string") result.reasoning = (result.reasoning ?? "") + d.reasoning_content;
      for (const tc of d.tool_calls ?? []) {
        let call = result.toolCalls[tc.index];
        if (!call) {
          // The SDK requires id, type and name on the first fragment of each call.
          expect(tc.index).toBe(result.toolCalls.length);
          expect(tc.id).toEqual(expect.any(String));
          expect(tc.type).toBe("function");
          expect(tc.function.name).toEqual(expect.any(String));
          call = { id: tc.id, type: tc.type, name: tc.function.name, arguments: "" };
          result.toolCalls[tc.index] = call;
        }
        call.arguments += tc.function?.arguments ?? "";
      }
      if (choice.finish_reason) result.finishReason = choice.finish_reason;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------
// OpenAI Responses: openai-node's ResponseStream accumulation plus Codex/Pi expectations.

export function accumulateResponses(events: ParsedSse[]): { response: any; output: any[]; types: string[] } {
  let output: any[] = [];
  let final: any;
  const types: string[] = [];
  events.forEach((ev, i) => {
    const data = JSON.parse(ev.data);
    types.push(data.type);
    expect(ev.event).toBe(data.type);
    expect(data.sequence_number).toBe(i);
    expect(final, "nothing may follow response.completed").toBeUndefined();
    switch (data.type) {
      case "response.created":
      case "response.in_progress":
        expect(data.response.status).toBe("in_progress");
        output = structuredClone(data.response.output);
        break;
      case "response.output_item.added":
        expect(data.output_index).toBe(output.length);
        output.push(structuredClone(data.item));
        break;
      case "response.output_item.done": {
        const item = output[data.output_index];
        // What was streamed must add up to the finished item.
        if (item.type === "message") expect(item.content).toEqual(data.item.content);
        if (item.type === "function_call") expect(item.arguments).toBe(data.item.arguments);
        if (item.type === "custom_tool_call") expect(item.input).toBe(data.item.input);
        if (item.type === "reasoning") expect(item.summary).toEqual(data.item.summary);
        output[data.output_index] = data.item;
        break;
      }
      case "response.content_part.added":
        output[data.output_index].content.push(structuredClone(data.part));
        expect(output[data.output_index].content.length - 1).toBe(data.content_index);
        break;
      case "response.output_text.delta": {
        const part = output[data.output_index].content[data.content_index];
        expect(part.type).toBe("output_text");
        part.text += data.delta;
        break;
      }
      case "response.output_text.done":
        expect(output[data.output_index].content[data.content_index].text).toBe(data.text);
        break;
      case "response.content_part.done":
        expect(output[data.output_index].content[data.content_index]).toEqual(data.part);
        break;
      case "response.function_call_arguments.delta":
        expect(output[data.output_index].type).toBe("function_call");
        output[data.output_index].arguments += data.delta;
        break;
      case "response.function_call_arguments.done":
        expect(output[data.output_index].arguments).toBe(data.arguments);
        break;
      case "response.custom_tool_call_input.delta":
        output[data.output_index].input += data.delta;
        break;
      case "response.custom_tool_call_input.done":
        expect(output[data.output_index].input).toBe(data.input);
        break;
      case "response.reasoning_summary_part.added":
        expect(data.summary_index).toBe(output[data.output_index].summary.length);
        output[data.output_index].summary.push(structuredClone(data.part));
        break;
      case "response.reasoning_summary_text.delta":
        // Pi appends to the last summary part, so the part must have been added first.
        output[data.output_index].summary[data.summary_index].text += data.delta;
        break;
      case "response.reasoning_summary_text.done":
        expect(output[data.output_index].summary[data.summary_index].text).toBe(data.text);
        break;
      case "response.reasoning_summary_part.done":
        expect(output[data.output_index].summary[data.summary_index]).toEqual(data.part);
        break;
      case "response.completed":
        expect(data.response.status).toBe("completed");
        expect(data.response.output).toEqual(output);
        final = data.response;
        break;
      default:
        throw new Error(`unexpected event ${data.type}`);
    }
  });
  expect(final, "stream must end with response.completed").toBeDefined();
  return { response: final, output, types };
}
