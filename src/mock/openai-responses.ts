import { openaiErrorShape } from "./openai-chat.js";
import {
  asArray,
  isRecord,
  jsonChunks,
  textChunks,
  toolArguments,
  type OfferedTool,
  type PlannedToolCall,
  type RenderContext,
  type Reply,
  type SseEvent,
  type Usage,
  type WireFormat,
} from "./wire.js";

/**
 * OpenAI Responses API (`POST /v1/responses`), JSON and SSE; what Codex CLI speaks.
 * Every event repeats its name in `type` (Codex reads only `data`) and carries
 * a `sequence_number`.
 */

const TOOL_OUTPUT_TYPES = new Set(["function_call_output", "custom_tool_call_output", "local_shell_call_output"]);

function responseId(ctx: RenderContext): string {
  return `resp_mock${String(ctx.responseSeq).padStart(6, "0")}`;
}

function usageBlock(u: Usage) {
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  };
}

function responseObject(ctx: RenderContext, status: string, output: unknown[], usage: Usage | null) {
  const b = ctx.body;
  return {
    id: responseId(ctx),
    object: "response",
    created_at: ctx.created,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    model: ctx.model,
    output,
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    reasoning: { effort: b.reasoning?.effort ?? null, summary: b.reasoning?.summary ?? null },
    store: b.store ?? false,
    temperature: b.temperature ?? 1,
    text: { format: { type: "text" } },
    tool_choice: b.tool_choice ?? "auto",
    tools: Array.isArray(b.tools) ? b.tools : [],
    top_p: b.top_p ?? 1,
    truncation: "disabled",
    usage: usage ? usageBlock(usage) : null,
    user: null,
    metadata: {},
  };
}

function shellAction(call: PlannedToolCall) {
  const input = typeof call.input === "string" ? { command: call.input } : call.input;
  const cmd = input.command;
  const command = Array.isArray(cmd) ? cmd.map(String) : typeof cmd === "string" ? ["bash", "-lc", cmd] : [];
  const workdir = input.workdir ?? input.working_directory;
  return {
    type: "exec",
    command,
    timeout_ms: typeof input.timeout_ms === "number" ? input.timeout_ms : null,
    working_directory: typeof workdir === "string" ? workdir : null,
    env: null,
    user: null,
  };
}

/** Freeform (custom) tools take raw text; an object input falls back to its `input` field or JSON. */
function customInput(call: PlannedToolCall): string {
  if (typeof call.input === "string") return call.input;
  return typeof call.input.input === "string" ? call.input.input : JSON.stringify(call.input);
}

interface Item {
  /** The finished item, as in output_item.done and the final response. */
  done: Record<string, unknown>;
  /** Events between output_item.added and output_item.done. */
  body: (outputIndex: number) => Array<[string, Record<string, unknown>]>;
  /** The item as first announced in output_item.added. */
  added: Record<string, unknown>;
}

function buildItems(reply: Reply, ctx: RenderContext): Item[] {
  const items: Item[] = [];
  const seq = String(ctx.responseSeq).padStart(6, "0");

  if (reply.thinking) {
    const thinking = reply.thinking;
    const id = `rs_mock${seq}`;
    const done: Record<string, unknown> = { id, type: "reasoning", summary: [{ type: "summary_text", text: thinking }] };
    // Codex asks for encrypted reasoning (store=false) and echoes it back; any opaque string will do.
    if (asArray(ctx.body.include).includes("reasoning.encrypted_content")) {
      done.encrypted_content = Buffer.from(`mock-reasoning:${thinking}`).toString("base64");
    }
    items.push({
      added: { id, type: "reasoning", summary: [] },
      done,
      body: (output_index) => {
        const base = { item_id: id, output_index, summary_index: 0 };
        return [
          ["response.reasoning_summary_part.added", { ...base, part: { type: "summary_text", text: "" } }],
          ...textChunks(thinking).map(
            (delta): [string, Record<string, unknown>] => ["response.reasoning_summary_text.delta", { ...base, delta }],
          ),
          ["response.reasoning_summary_text.done", { ...base, text: thinking }],
          ["response.reasoning_summary_part.done", { ...base, part: { type: "summary_text", text: thinking } }],
        ];
      },
    });
  }

  if (reply.text) {
    const text = reply.text;
    const id = `msg_mock${seq}`;
    const part = { type: "output_text", text, annotations: [], logprobs: [] };
    items.push({
      added: { id, type: "message", status: "in_progress", role: "assistant", content: [] },
      done: { id, type: "message", status: "completed", role: "assistant", content: [part] },
      body: (output_index) => {
        const base = { item_id: id, output_index, content_index: 0 };
        return [
          ["response.content_part.added", { ...base, part: { ...part, text: "" } }],
          ...textChunks(text).map(
            (delta): [string, Record<string, unknown>] => ["response.output_text.delta", { ...base, delta, logprobs: [] }],
          ),
          ["response.output_text.done", { ...base, text, logprobs: [] }],
          ["response.content_part.done", { ...base, part }],
        ];
      },
    });
  }

  reply.toolCalls.forEach((call, i) => {
    const callId = `call_mock_${reply.stepIndex}_${i}`;
    if (call.toolType === "custom") {
      const id = `ctc_mock_${reply.stepIndex}_${i}`;
      const input = customInput(call);
      const item = { id, type: "custom_tool_call", call_id: callId, name: call.name };
      items.push({
        added: { ...item, status: "in_progress", input: "" },
        done: { ...item, status: "completed", input },
        body: (output_index) => [
          ...jsonChunks(input).map(
            (delta): [string, Record<string, unknown>] => [
              "response.custom_tool_call_input.delta",
              { item_id: id, output_index, delta },
            ],
          ),
          ["response.custom_tool_call_input.done", { item_id: id, output_index, input }],
        ],
      });
    } else if (call.toolType === "local_shell") {
      const id = `lsh_mock_${reply.stepIndex}_${i}`;
      const item = { id, type: "local_shell_call", call_id: callId, action: shellAction(call) };
      items.push({
        added: { ...item, status: "in_progress" },
        done: { ...item, status: "completed" },
        body: () => [],
      });
    } else {
      // Function tools, and names the request did not offer at all.
      const id = `fc_mock_${reply.stepIndex}_${i}`;
      const args = toolArguments(call);
      const item = { id, type: "function_call", call_id: callId, name: call.name };
      items.push({
        added: { ...item, status: "in_progress", arguments: "" },
        done: { ...item, status: "completed", arguments: args },
        body: (output_index) => [
          ...jsonChunks(args).map(
            (delta): [string, Record<string, unknown>] => [
              "response.function_call_arguments.delta",
              { item_id: id, output_index, delta },
            ],
          ),
          ["response.function_call_arguments.done", { item_id: id, output_index, name: call.name, arguments: args }],
        ],
      });
    }
  });
  return items;
}

export const openaiResponsesFormat: WireFormat = {
  api: "openai-responses",

  isStream: (body) => body.stream === true,

  toolResultCount(body) {
    return asArray(body.input).filter((item) => isRecord(item) && TOOL_OUTPUT_TYPES.has(item.type)).length;
  },

  offeredTools(body): OfferedTool[] {
    const out: OfferedTool[] = [];
    for (const t of asArray(body.tools)) {
      if (!isRecord(t) || typeof t.type !== "string") continue;
      // Built-ins such as local_shell or web_search have no name; their type is the name.
      const name = typeof t.name === "string" ? t.name : t.type;
      out.push({ name, type: t.type });
    }
    return out;
  },

  promptParts(body) {
    const input = typeof body.input === "string" ? [body.input] : asArray(body.input);
    return {
      all: [body.instructions ?? "", body.tools ?? [], input],
      prefix: input.length > 1 ? [body.instructions ?? "", body.tools ?? [], input.slice(0, -1)] : null,
    };
  },

  json(reply, ctx) {
    return responseObject(
      ctx,
      "completed",
      buildItems(reply, ctx).map((it) => it.done),
      ctx.usage,
    );
  },

  events(reply, ctx) {
    const out: SseEvent[] = [];
    let seq = 0;
    const emit = (type: string, data: Record<string, unknown>) =>
      out.push({ event: type, data: { type, sequence_number: seq++, ...data } });

    emit("response.created", { response: responseObject(ctx, "in_progress", [], null) });
    emit("response.in_progress", { response: responseObject(ctx, "in_progress", [], null) });
    const items = buildItems(reply, ctx);
    items.forEach((item, output_index) => {
      emit("response.output_item.added", { output_index, item: item.added });
      for (const [type, data] of item.body(output_index)) emit(type, data);
      emit("response.output_item.done", { output_index, item: item.done });
    });
    emit("response.completed", {
      response: responseObject(
        ctx,
        "completed",
        items.map((it) => it.done),
        ctx.usage,
      ),
    });
    return out;
  },

  errorBody: openaiErrorShape,
};
