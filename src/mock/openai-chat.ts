import {
  asArray,
  isRecord,
  jsonChunks,
  textChunks,
  toolArguments,
  type OfferedTool,
  type RenderContext,
  type Reply,
  type SseEvent,
  type Usage,
  type WireFormat,
} from "./wire.js";

/** OpenAI Chat Completions (`POST /v1/chat/completions`), JSON and SSE. */

export function openaiErrorShape(status: number, message: string, type?: string, code?: string) {
  let defType = status >= 500 ? "server_error" : "invalid_request_error";
  let defCode: string | null = null;
  if (status === 401) defCode = "invalid_api_key";
  if (status === 403) defType = "permission_error";
  if (status === 404) defCode = "not_found";
  if (status === 429) {
    defType = "requests";
    defCode = "rate_limit_exceeded";
  }
  return { error: { message, type: type ?? defType, param: null, code: code ?? defCode } };
}

function callId(reply: Reply, i: number): string {
  return `call_mock_${reply.stepIndex}_${i}`;
}

function completionId(ctx: RenderContext): string {
  return `chatcmpl-mock${String(ctx.responseSeq).padStart(6, "0")}`;
}

function finishReason(reply: Reply): string {
  return reply.toolCalls.length > 0 ? "tool_calls" : "stop";
}

/** OpenAI counts cached tokens inside prompt_tokens. */
function usageBlock(u: Usage) {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: u.reasoning,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export const openaiChatFormat: WireFormat = {
  api: "openai-chat",

  isStream: (body) => body.stream === true,

  toolResultCount(body) {
    // "function" is the legacy pre-tools role for results.
    return asArray(body.messages).filter((m) => isRecord(m) && (m.role === "tool" || m.role === "function")).length;
  },

  offeredTools(body): OfferedTool[] {
    const out: OfferedTool[] = [];
    for (const t of asArray(body.tools)) {
      if (!isRecord(t)) continue;
      const type = typeof t.type === "string" ? t.type : "function";
      const inner = isRecord(t[type]) ? t[type] : isRecord(t.function) ? t.function : t;
      if (typeof inner.name === "string") out.push({ name: inner.name, type });
    }
    // Legacy `functions` parameter.
    for (const f of asArray(body.functions)) {
      if (isRecord(f) && typeof f.name === "string") out.push({ name: f.name, type: "function" });
    }
    return out;
  },

  promptParts(body) {
    const messages = asArray(body.messages);
    return {
      all: [body.tools ?? [], messages],
      prefix: messages.length > 1 ? [body.tools ?? [], messages.slice(0, -1)] : null,
    };
  },

  json(reply, ctx) {
    const message: Record<string, unknown> = { role: "assistant", content: reply.text || null, refusal: null };
    // Not part of OpenAI's schema; DeepSeek-style field that Pi and others read for thinking.
    if (reply.thinking) message.reasoning_content = reply.thinking;
    if (reply.toolCalls.length > 0) {
      message.tool_calls = reply.toolCalls.map((call, i) => ({
        id: callId(reply, i),
        type: "function",
        function: { name: call.name, arguments: toolArguments(call) },
      }));
    }
    return {
      id: completionId(ctx),
      object: "chat.completion",
      created: ctx.created,
      model: ctx.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(reply) }],
      usage: usageBlock(ctx.usage),
      system_fingerprint: "fp_mock",
    };
  },

  events(reply, ctx) {
    const includeUsage = isRecord(ctx.body.stream_options) && ctx.body.stream_options.include_usage === true;
    const out: SseEvent[] = [];
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => {
      const data: Record<string, unknown> = {
        id: completionId(ctx),
        object: "chat.completion.chunk",
        created: ctx.created,
        model: ctx.model,
        system_fingerprint: "fp_mock",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      };
      // With include_usage every chunk carries usage: null until the final usage-only chunk.
      if (includeUsage) data.usage = null;
      out.push({ data });
    };

    chunk({ role: "assistant", content: reply.text ? "" : null, refusal: null });
    if (reply.thinking) for (const piece of textChunks(reply.thinking)) chunk({ reasoning_content: piece });
    if (reply.text) for (const piece of textChunks(reply.text)) chunk({ content: piece });
    reply.toolCalls.forEach((call, i) => {
      // First chunk of a call carries id/type/name; later ones only argument fragments, keyed by index.
      chunk({ tool_calls: [{ index: i, id: callId(reply, i), type: "function", function: { name: call.name, arguments: "" } }] });
      for (const piece of jsonChunks(toolArguments(call))) {
        chunk({ tool_calls: [{ index: i, function: { arguments: piece } }] });
      }
    });
    chunk({}, finishReason(reply));
    if (includeUsage) {
      out.push({
        data: {
          id: completionId(ctx),
          object: "chat.completion.chunk",
          created: ctx.created,
          model: ctx.model,
          system_fingerprint: "fp_mock",
          choices: [],
          usage: usageBlock(ctx.usage),
        },
      });
    }
    out.push({ data: "[DONE]" });
    return out;
  },

  errorBody: openaiErrorShape,
};
