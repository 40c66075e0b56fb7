import { createHash } from "node:crypto";
import {
  asArray,
  estimateTokens,
  isRecord,
  jsonChunks,
  objectInput,
  textChunks,
  toolArguments,
  type OfferedTool,
  type RenderContext,
  type Reply,
  type SseEvent,
  type Usage,
  type WireFormat,
} from "./wire.js";

/** Anthropic Messages API (`POST /v1/messages`), JSON and SSE. */

export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

function toolUseId(reply: Reply, i: number): string {
  return `toolu_mock_${reply.stepIndex}_${i}`;
}

/** Clients echo the signature back but nobody checks it here; it only has to be stable. */
function signature(thinking: string): string {
  return Buffer.from(`mock-signature:${createHash("sha256").update(thinking).digest("hex")}`).toString("base64");
}

/** Anthropic counts cached tokens apart from input_tokens (unlike OpenAI). */
function usageBlock(u: Usage, outputTokens: number) {
  return {
    input_tokens: u.input - u.cached,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: u.cached,
    output_tokens: outputTokens,
  };
}

function contentBlocks(reply: Reply): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (reply.thinking) blocks.push({ type: "thinking", thinking: reply.thinking, signature: signature(reply.thinking) });
  if (reply.text) blocks.push({ type: "text", text: reply.text });
  reply.toolCalls.forEach((call, i) => {
    blocks.push({ type: "tool_use", id: toolUseId(reply, i), name: call.name, input: objectInput(call) });
  });
  return blocks;
}

function stopReason(reply: Reply): string {
  return reply.toolCalls.length > 0 ? "tool_use" : "end_turn";
}

function messageId(ctx: RenderContext): string {
  return `msg_mock_${String(ctx.responseSeq).padStart(6, "0")}`;
}

export const anthropicFormat: WireFormat = {
  api: "anthropic-messages",

  isStream: (body) => body.stream === true,

  toolResultCount(body) {
    let n = 0;
    for (const msg of asArray(body.messages)) {
      if (!isRecord(msg) || msg.role !== "user") continue;
      for (const block of asArray(msg.content)) if (isRecord(block) && block.type === "tool_result") n++;
    }
    return n;
  },

  offeredTools(body): OfferedTool[] {
    return asArray(body.tools)
      .filter(isRecord)
      .filter((t) => typeof t.name === "string")
      .map((t) => ({ name: t.name as string, type: typeof t.type === "string" ? t.type : "custom" }));
  },

  promptParts(body) {
    const messages = asArray(body.messages);
    return {
      all: [body.system ?? "", body.tools ?? [], messages],
      prefix: messages.length > 1 ? [body.system ?? "", body.tools ?? [], messages.slice(0, -1)] : null,
    };
  },

  json(reply, ctx) {
    return {
      id: messageId(ctx),
      type: "message",
      role: "assistant",
      model: ctx.model,
      content: contentBlocks(reply),
      stop_reason: stopReason(reply),
      stop_sequence: null,
      usage: usageBlock(ctx.usage, ctx.usage.output),
    };
  },

  events(reply, ctx) {
    const out: SseEvent[] = [];
    const emit = (type: string, data: Record<string, unknown>) => out.push({ event: type, data: { type, ...data } });

    // The real API reports a provisional output count at the start and the final one in message_delta.
    emit("message_start", {
      message: {
        id: messageId(ctx),
        type: "message",
        role: "assistant",
        model: ctx.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageBlock(ctx.usage, 1),
      },
    });
    emit("ping", {});

    let index = 0;
    if (reply.thinking) {
      emit("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
      for (const piece of textChunks(reply.thinking)) {
        emit("content_block_delta", { index, delta: { type: "thinking_delta", thinking: piece } });
      }
      emit("content_block_delta", { index, delta: { type: "signature_delta", signature: signature(reply.thinking) } });
      emit("content_block_stop", { index });
      index++;
    }
    if (reply.text) {
      emit("content_block_start", { index, content_block: { type: "text", text: "" } });
      for (const piece of textChunks(reply.text)) {
        emit("content_block_delta", { index, delta: { type: "text_delta", text: piece } });
      }
      emit("content_block_stop", { index });
      index++;
    }
    reply.toolCalls.forEach((call, i) => {
      // input starts as {} and arrives only through input_json_delta, as from the real API.
      emit("content_block_start", {
        index,
        content_block: { type: "tool_use", id: toolUseId(reply, i), name: call.name, input: {} },
      });
      for (const piece of jsonChunks(toolArguments(call))) {
        emit("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: piece } });
      }
      emit("content_block_stop", { index });
      index++;
    });

    emit("message_delta", {
      delta: { stop_reason: stopReason(reply), stop_sequence: null },
      usage: usageBlock(ctx.usage, ctx.usage.output),
    });
    emit("message_stop", {});
    return out;
  },

  errorBody(status, message, type) {
    return { type: "error", error: { type: type ?? anthropicErrorType(status), message } };
  },
};

/** `POST /v1/messages/count_tokens`. */
export function countTokens(body: Record<string, any>): { input_tokens: number } {
  return { input_tokens: Math.max(1, estimateTokens(anthropicFormat.promptParts(body).all)) };
}
