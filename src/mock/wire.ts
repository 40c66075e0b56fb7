/** Shared pieces of the wire formats: the reply model, usage estimates, chunking. */

import type { ModelApi } from "../wire/apis.js";

/** A tool as offered in the request; `type` tells Responses how to shape the call. */
export interface OfferedTool {
  name: string;
  type: string;
}

export interface PlannedToolCall {
  /** Name after resolution against the offered tools. */
  name: string;
  input: Record<string, unknown> | string;
  /** Offered tool type, if the name matched one ("function", "custom", "local_shell", ...). */
  toolType?: string;
}

/** One assistant turn, already decided; the wire formats only serialise it. */
export interface Reply {
  stepIndex: number;
  thinking?: string;
  text?: string;
  toolCalls: PlannedToolCall[];
}

export interface Usage {
  /** All prompt tokens, cached ones included (OpenAI's notion of prompt_tokens). */
  input: number;
  /** The part of `input` a real provider would have served from its prompt cache. */
  cached: number;
  output: number;
  reasoning: number;
}

export interface RenderContext {
  model: string;
  /** Unique per response (message / completion / response id suffix). */
  responseSeq: number;
  created: number;
  usage: Usage;
  body: Record<string, any>;
}

/** `data` that is a string is written verbatim (OpenAI's `[DONE]`). */
export interface SseEvent {
  event?: string;
  data: unknown;
}

export interface WireFormat {
  api: ModelApi;
  isStream(body: Record<string, any>): boolean;
  toolResultCount(body: Record<string, any>): number;
  offeredTools(body: Record<string, any>): OfferedTool[];
  /** Request parts for token estimates: everything, and the prefix a cache would hold. */
  promptParts(body: Record<string, any>): { all: unknown; prefix: unknown };
  json(reply: Reply, ctx: RenderContext): unknown;
  events(reply: Reply, ctx: RenderContext): SseEvent[];
  errorBody(status: number, message: string, type?: string, code?: string): unknown;
}

/** Rough tokens: a quarter of the characters, deterministic and never negative. */
export function estimateTokens(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return Math.ceil(s.length / 4);
}

export function estimateUsage(format: WireFormat, body: Record<string, any>, reply: Reply): Usage {
  const { all, prefix } = format.promptParts(body);
  const input = Math.max(1, estimateTokens(all));
  const cached = Math.min(input - 1, estimateTokens(prefix));
  const reasoning = estimateTokens(reply.thinking);
  const toolChars = reply.toolCalls.map((c) => c.name + toolArguments(c)).join("");
  const output = Math.max(1, reasoning + estimateTokens(reply.text) + estimateTokens(toolChars));
  return { input, cached, output, reasoning };
}

/** JSON-schema tools need an object; a string input (for freeform tools) is wrapped. */
export function objectInput(call: PlannedToolCall): Record<string, unknown> {
  return typeof call.input === "string" ? { input: call.input } : call.input;
}

export function toolArguments(call: PlannedToolCall): string {
  return JSON.stringify(objectInput(call));
}

/** Splits text into word-group chunks; concatenating them gives the text back exactly. */
export function textChunks(text: string, wordsPerChunk = 3): string[] {
  if (text === "") return [];
  const words = text.split(/(?<=\s)(?=\S)/);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += wordsPerChunk) out.push(words.slice(i, i + wordsPerChunk).join(""));
  return out;
}

/**
 * Splits serialized JSON into two or three pieces at code point boundaries, so
 * clients must really accumulate partial JSON as they do with real providers.
 */
export function jsonChunks(json: string): string[] {
  const cps = Array.from(json);
  if (cps.length < 2) return [json];
  const parts = cps.length < 12 ? 2 : 3;
  const size = Math.ceil(cps.length / parts);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(""));
  return out;
}

export function sseFrame(ev: SseEvent): string {
  const data = typeof ev.data === "string" ? ev.data : JSON.stringify(ev.data);
  return (ev.event ? `event: ${ev.event}\n` : "") + `data: ${data}\n\n`;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
