// `execute_tool {name}` spans: a tool the harness ran for the model.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import { BERTH, GEN_AI } from "./attributes.js";
import { contentString, truncateContent } from "./content.js";
import type { ToolSpanInput, ToolSpanResult } from "./types.js";

export class ToolSpans {
  constructor(
    private readonly tracer: Tracer,
    private readonly captureContent: boolean,
  ) {}

  start(parent: Context | undefined, input: ToolSpanInput): Span {
    const name = input.name || "tool";
    return this.tracer.startSpan(
      `execute_tool ${name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [GEN_AI.OPERATION_NAME]: "execute_tool",
          [GEN_AI.TOOL_NAME]: name,
          // Tools the harness runs for the model are functions in semconv's sense: the model
          // produces arguments, the client (the harness) executes them.
          [GEN_AI.TOOL_TYPE]: "function",
          ...(input.toolCallId ? { [GEN_AI.TOOL_CALL_ID]: input.toolCallId } : {}),
          ...(input.kind ? { [BERTH.TOOL_KIND]: input.kind } : {}),
          ...(this.captureContent && input.arguments !== undefined ? { [GEN_AI.TOOL_CALL_ARGUMENTS]: contentString(input.arguments) } : {}),
        },
      },
      parent ?? ROOT_CONTEXT,
    );
  }

  end(span: Span, result: ToolSpanResult = {}): void {
    if (!span.isRecording()) return;
    const status = result.status ?? "completed";
    span.setAttribute(BERTH.TOOL_STATUS, status);
    if (this.captureContent && result.result !== undefined) span.setAttribute(GEN_AI.TOOL_CALL_RESULT, contentString(result.result));
    if (status === "failed" || result.error) {
      span.setAttribute(ATTR_ERROR_TYPE, "tool_failed");
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ? truncateContent(result.error) : "tool call failed" });
    }
    span.end();
  }
}
