import { createHash } from "node:crypto";
import {
  asArray,
  estimateTokens,
  isRecord,
  objectInput,
  textChunks,
  type OfferedTool,
  type RenderContext,
  type Reply,
  type SseEvent,
  type Usage,
  type WireFormat,
} from "./wire.js";

/**
 * Google's Gemini API (`POST /v1beta/models/{model}:generateContent`, and
 * `:streamGenerateContent?alt=sse`), as @google/genai and Gemini CLI speak it. The model is
 * in the path and streaming is the method, not body fields: the server routes them.
 */

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** Google's error envelope: `{error: {code, message, status}}`; `type` overrides the status name. */
export function geminiErrorBody(status: number, message: string, type?: string) {
  return { error: { code: status, message, status: type ?? STATUS[status] ?? (status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT") } };
}

function callId(reply: Reply, i: number): string {
  return `call_mock_${reply.stepIndex}_${i}`;
}

/** Clients echo the signature back but nobody checks it here; it only has to be stable. */
function signature(thinking: string): string {
  return Buffer.from(`mock-signature:${createHash("sha256").update(thinking).digest("hex")}`).toString("base64");
}

/** Gemini counts cached tokens inside promptTokenCount (like OpenAI), thoughts apart from candidates. */
function usageMetadata(u: Usage) {
  const candidates = Math.max(0, u.output - u.reasoning);
  return {
    promptTokenCount: u.input,
    candidatesTokenCount: candidates,
    totalTokenCount: u.input + u.output,
    ...(u.cached > 0 ? { cachedContentTokenCount: u.cached } : {}),
    ...(u.reasoning > 0 ? { thoughtsTokenCount: u.reasoning } : {}),
  };
}

function responseId(ctx: RenderContext): string {
  return `mock-${String(ctx.responseSeq).padStart(6, "0")}`;
}

function callPart(reply: Reply, i: number): Record<string, unknown> {
  const call = reply.toolCalls[i]!;
  return { functionCall: { id: callId(reply, i), name: call.name, args: objectInput(call) } };
}

function envelope(parts: Record<string, unknown>[], ctx: RenderContext, final: boolean): Record<string, unknown> {
  const candidate: Record<string, unknown> = { content: { role: "model", parts }, index: 0 };
  // Gemini ends tool-calling turns with STOP too; the function calls say what comes next.
  if (final) candidate.finishReason = "STOP";
  return {
    candidates: [candidate],
    // Streaming chunks before the last carry the prompt count only.
    usageMetadata: final ? usageMetadata(ctx.usage) : { promptTokenCount: ctx.usage.input, totalTokenCount: ctx.usage.input },
    modelVersion: ctx.model,
    responseId: responseId(ctx),
  };
}

function contents(body: Record<string, any>): unknown[] {
  return asArray(body.contents);
}

export function makeGeminiFormat(stream: boolean): WireFormat {
  return {
    api: "google-generative-ai",

    isStream: () => stream,

    toolResultCount(body) {
      let n = 0;
      for (const c of contents(body)) {
        if (!isRecord(c) || c.role === "model") continue;
        for (const part of asArray(c.parts)) if (isRecord(part) && isRecord(part.functionResponse)) n++;
      }
      return n;
    },

    offeredTools(body): OfferedTool[] {
      const out: OfferedTool[] = [];
      for (const t of asArray(body.tools)) {
        if (!isRecord(t)) continue;
        for (const f of asArray(t.functionDeclarations))
          if (isRecord(f) && typeof f.name === "string") out.push({ name: f.name, type: "function" });
      }
      return out;
    },

    promptParts(body) {
      const all = contents(body);
      const head = [body.systemInstruction ?? "", body.tools ?? []];
      return { all: [...head, all], prefix: all.length > 1 ? [...head, all.slice(0, -1)] : null };
    },

    json(reply, ctx) {
      const parts: Record<string, unknown>[] = [];
      if (reply.thinking) parts.push({ text: reply.thinking, thought: true, thoughtSignature: signature(reply.thinking) });
      if (reply.text) parts.push({ text: reply.text });
      reply.toolCalls.forEach((_, i) => parts.push(callPart(reply, i)));
      return envelope(parts, ctx, true);
    },

    events(reply, ctx) {
      // Every SSE chunk is a whole GenerateContentResponse with the next parts; function
      // calls arrive whole, one part each; the last chunk has finishReason and usage.
      const chunks: Record<string, unknown>[][] = [];
      if (reply.thinking) {
        const pieces = textChunks(reply.thinking);
        pieces.forEach((text, i) =>
          chunks.push([{ text, thought: true, ...(i === pieces.length - 1 ? { thoughtSignature: signature(reply.thinking!) } : {}) }]),
        );
      }
      if (reply.text) for (const text of textChunks(reply.text)) chunks.push([{ text }]);
      reply.toolCalls.forEach((_, i) => chunks.push([callPart(reply, i)]));
      if (chunks.length === 0) chunks.push([{ text: "" }]);
      return chunks.map((parts, i): SseEvent => ({ data: envelope(parts, ctx, i === chunks.length - 1) }));
    },

    errorBody: (status, message, type) => geminiErrorBody(status, message, type),
  };
}

export const geminiFormat = makeGeminiFormat(false);
export const geminiStreamFormat = makeGeminiFormat(true);

/** `POST /v1beta/models/{model}:countTokens`. */
export function geminiCountTokens(body: Record<string, any>): { totalTokens: number } {
  const req = isRecord(body.generateContentRequest) ? body.generateContentRequest : body;
  return { totalTokens: Math.max(1, estimateTokens(geminiFormat.promptParts(req).all)) };
}

