// `invoke_agent {harness}` spans, one per turn, built from berth's normalised events: the
// turn's tool calls become `execute_tool` children, its model calls (from the gateway)
// add up into the turn's usage, and with content capture its text becomes the output.

import { SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import { BERTH, EVENT_INFERENCE_DETAILS, GEN_AI, invokeAgentAttributes, providerName } from "./attributes.js";
import { MAX_CONTENT_CHARS, contentString, promptParts, truncateContent } from "./content.js";
import { contextFromTraceparent, traceparentOf } from "./context.js";
import type { ToolSpans } from "./tool-spans.js";
import type { ChatUsage, TurnEnd, TurnEvent, TurnSpan, TurnSpanInput } from "./types.js";

/** Open tool spans kept per turn; a harness that never closes its tool calls cannot grow this. */
const MAX_OPEN_TOOLS = 256;

/** What a turn's model calls add up to. */
interface ModelCallTotals {
  calls: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
  models: Set<string>;
}

interface OpenTool {
  span: Span;
  input?: unknown;
  output?: unknown;
  text?: string;
}

/** The fields of a tool.call / tool.update event a span reads. */
interface ToolEventData {
  toolCallId?: unknown;
  toolName?: unknown;
  kind?: unknown;
  status?: unknown;
  input?: unknown;
  output?: unknown;
  text?: unknown;
}

/**
 * A low-cardinality tool name: the harness's own tool name where it reports one, else the
 * ACP kind. Never the title: titles carry commands and paths.
 */
export function toolSpanName(data: ToolEventData): string {
  const name = data.toolName ?? data.kind;
  return typeof name === "string" && name ? name.slice(0, 64) : "tool";
}

export interface TurnSpanDeps {
  tracer: Tracer;
  tools: ToolSpans;
  captureContent: boolean;
  /** Called once, when the turn ends. */
  onEnded(turn: RecordingTurnSpan): void;
}

export class RecordingTurnSpan implements TurnSpan {
  readonly span: Span;
  readonly ctx: Context;
  readonly traceparent: string | undefined;
  private readonly totals: ModelCallTotals = { calls: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0, cost: 0, models: new Set() };
  private readonly openTools = new Map<string, OpenTool>();
  private toolCount = 0;
  private outputText = "";
  private thoughtText = "";
  private ended = false;

  constructor(
    readonly input: TurnSpanInput,
    private readonly deps: TurnSpanDeps,
  ) {
    const parent = contextFromTraceparent(input.traceparent, input.tracestate);
    this.span = deps.tracer.startSpan(
      `invoke_agent ${input.harness}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          ...invokeAgentAttributes(input),
          [BERTH.TURN_ID]: input.turnId,
          ...(input.provider ? { [GEN_AI.PROVIDER_NAME]: providerName(input.provider), [BERTH.PROVIDER]: input.provider } : {}),
          ...(input.harnessVersion ? { [GEN_AI.AGENT_VERSION]: input.harnessVersion } : {}),
        },
      },
      parent,
    );
    this.ctx = trace.setSpan(parent, this.span);
    this.traceparent = traceparentOf(this.span);
  }

  onEvent(event: TurnEvent): void {
    if (this.ended) return;
    switch (event.type) {
      case "tool.call":
      case "tool.update":
        this.onToolEvent(event.data as ToolEventData);
        return;
      case "message.delta":
        if (this.deps.captureContent && typeof event.data.text === "string" && this.outputText.length < MAX_CONTENT_CHARS) this.outputText += event.data.text;
        return;
      case "thought.delta":
        if (this.deps.captureContent && typeof event.data.text === "string" && this.thoughtText.length < MAX_CONTENT_CHARS) this.thoughtText += event.data.text;
        return;
      default:
        return; // model calls arrive from the gateway; other events don't shape the span
    }
  }

  private onToolEvent(data: ToolEventData): void {
    const id = typeof data.toolCallId === "string" ? data.toolCallId : undefined;
    if (!id) return;
    let tool = this.openTools.get(id);
    if (!tool) {
      if (this.openTools.size >= MAX_OPEN_TOOLS) return;
      const kind = typeof data.kind === "string" ? data.kind : undefined;
      tool = { span: this.deps.tools.start(this.ctx, { name: toolSpanName(data), toolCallId: id, kind }) };
      this.openTools.set(id, tool);
      this.toolCount++;
    }
    if (this.deps.captureContent) {
      if (data.input !== undefined) tool.input = data.input;
      if (data.output !== undefined) tool.output = data.output;
      if (typeof data.text === "string") tool.text = data.text;
    }
    if (data.status === "completed" || data.status === "failed") this.closeTool(id, data.status);
  }

  private closeTool(id: string, status: string): void {
    const tool = this.openTools.get(id);
    if (!tool) return;
    this.openTools.delete(id);
    const capture = this.deps.captureContent;
    if (capture && tool.input !== undefined) tool.span.setAttribute(GEN_AI.TOOL_CALL_ARGUMENTS, contentString(tool.input));
    this.deps.tools.end(tool.span, { status, ...(capture ? { result: tool.output ?? tool.text } : {}) });
  }

  /** Adds one of the turn's model calls (a gateway chat span that ended) to its totals. */
  addModelCall(usage: ChatUsage | undefined, costUsd: number | undefined, responseModel: string | undefined): void {
    const totals = this.totals;
    totals.calls++;
    if (usage) {
      totals.input += usage.inputTokens;
      totals.output += usage.outputTokens;
      totals.cacheRead += usage.cacheReadTokens ?? 0;
      totals.cacheWrite += usage.cacheWriteTokens ?? 0;
      totals.reasoning += usage.reasoningTokens ?? 0;
    }
    if (costUsd) totals.cost += costUsd;
    if (responseModel) totals.models.add(responseModel);
  }

  end(result: TurnEnd = {}): void {
    if (this.ended) return;
    this.ended = true;
    for (const id of [...this.openTools.keys()]) this.closeTool(id, "incomplete");
    this.deps.onEnded(this);
    const stop = result.stopReason;
    if (stop) {
      this.span.setAttribute(BERTH.TURN_STOP_REASON, stop);
      this.span.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, [stop]);
    }
    this.span.setAttribute(BERTH.TURN_MODEL_CALLS, this.totals.calls);
    this.span.setAttribute(BERTH.TURN_TOOL_CALLS, this.toolCount);
    this.recordUsage();
    if (this.deps.captureContent) this.recordContent(stop);
    if (result.error || stop === "error") {
      this.span.setAttribute(ATTR_ERROR_TYPE, result.errorType ?? "turn_failed");
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: truncateContent(result.error ?? "turn failed") });
    }
    this.span.end();
  }

  private recordUsage(): void {
    const { span, totals } = this;
    if (totals.calls === 0) return;
    span.setAttribute(GEN_AI.USAGE_INPUT_TOKENS, totals.input);
    span.setAttribute(GEN_AI.USAGE_OUTPUT_TOKENS, totals.output);
    if (totals.cacheRead) span.setAttribute(GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS, totals.cacheRead);
    if (totals.cacheWrite) span.setAttribute(GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS, totals.cacheWrite);
    if (totals.reasoning) span.setAttribute(GEN_AI.USAGE_REASONING_OUTPUT_TOKENS, totals.reasoning);
    if (totals.cost) span.setAttribute(BERTH.COST_USD, totals.cost);
    // A turn can span several models (Claude Code's side calls use a small one).
    const [onlyModel, ...others] = totals.models;
    if (onlyModel !== undefined && others.length === 0) span.setAttribute(GEN_AI.RESPONSE_MODEL, onlyModel);
  }

  /** The opt-in content: one gen_ai.client.inference.operation.details event. */
  private recordContent(stop: string | undefined): void {
    const { input } = this;
    const parts: object[] = [];
    if (this.thoughtText) parts.push({ type: "reasoning", content: truncateContent(this.thoughtText) });
    if (this.outputText) parts.push({ type: "text", content: truncateContent(this.outputText) });
    this.span.addEvent(EVENT_INFERENCE_DETAILS, {
      [GEN_AI.OPERATION_NAME]: "invoke_agent",
      ...(input.provider ? { [GEN_AI.PROVIDER_NAME]: providerName(input.provider) } : {}),
      [GEN_AI.INPUT_MESSAGES]: JSON.stringify([{ role: "user", parts: promptParts(input.prompt) }]),
      [GEN_AI.OUTPUT_MESSAGES]: JSON.stringify([{ role: "assistant", parts, ...(stop ? { finish_reason: stop } : {}) }]),
      ...(input.systemPrompt ? { [GEN_AI.SYSTEM_INSTRUCTIONS]: JSON.stringify([{ type: "text", content: truncateContent(input.systemPrompt) }]) } : {}),
    });
  }
}

/** The running turn of each session, found by session id (the gateway) or by context (a chat span's parent). */
export class RunningTurns {
  private readonly bySession = new Map<string, RecordingTurnSpan>();
  private readonly byCtx = new WeakMap<Context, RecordingTurnSpan>();

  constructor(private readonly deps: Omit<TurnSpanDeps, "onEnded">) {}

  start(input: TurnSpanInput): RecordingTurnSpan {
    const turn = new RecordingTurnSpan(input, { ...this.deps, onEnded: (ended) => this.forget(ended) });
    this.bySession.set(input.sessionId, turn);
    this.byCtx.set(turn.ctx, turn);
    return turn;
  }

  ofSession(sessionId: string): RecordingTurnSpan | undefined {
    return this.bySession.get(sessionId);
  }

  ofContext(ctx: Context): RecordingTurnSpan | undefined {
    return this.byCtx.get(ctx);
  }

  /** Ends every running turn (berth is shutting down). */
  endAll(result: TurnEnd): void {
    for (const turn of [...this.bySession.values()]) turn.end(result);
  }

  private forget(turn: RecordingTurnSpan): void {
    if (this.bySession.get(turn.input.sessionId) === turn) this.bySession.delete(turn.input.sessionId);
  }
}
