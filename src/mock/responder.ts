import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, pause, readBody, sendJson, write } from "./http.js";
import { errorFormat } from "./routes.js";
import { countTokens } from "./anthropic.js";
import { geminiCountTokens } from "./gemini.js";
import { DEFAULT_MODEL, FINISHED_TEXT, SIDE_REQUEST_TEXT, resolveToolName, selectStep, stepToolCalls, type MockScript } from "./script.js";
import type { RecordedRequest } from "./request-log.js";
import { estimateUsage, isRecord, sseFrame, type Reply, type WireFormat } from "./wire.js";
import type { ModelApi } from "../wire/apis.js";

/** How much of each request body the mock keeps in its request log. */
const MAX_RECORDED_BODY = 256 * 1024;

/**
 * Answers model calls from the script: picks the step (by tool results seen), then words the
 * reply in the request's wire format, as JSON or as an SSE stream, with the step's delays.
 * `errorServed` counts how often each limited error step has been served.
 */
export class ScriptedResponder {
  readonly errorServed = new Map<number, number>();
  private responseSeq = 0;

  constructor(
    private script: MockScript,
    private models: string[],
  ) {}

  /** A model call (`format`), or a token count (`format` null) for `countApi`. */
  async answer(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, format: WireFormat | null, countApi: ModelApi = "anthropic-messages"): Promise<void> {
    const errors = format ?? errorFormat(countApi);
    const fail = (status: number, message: string, type?: string, code?: string, headers?: Record<string, string>) => {
      rec.status = status;
      sendJson(res, status, errors.errorBody(status, message, type, code), headers);
    };

    let body: Record<string, any>;
    try {
      const raw = await readBody(req);
      // Kept (bounded) so a test can check what the model was shown, e.g. an earlier conversation.
      rec.body = raw.subarray(0, MAX_RECORDED_BODY).toString("utf8");
      const parsed: unknown = JSON.parse(raw.toString("utf8"));
      if (!isRecord(parsed)) throw new HttpError(400, "request body must be a JSON object");
      body = parsed;
    } catch (err) {
      if (err instanceof HttpError) return fail(err.status, err.message);
      return fail(400, `request body is not valid JSON: ${(err as Error).message}`);
    }

    if (typeof body.model === "string") rec.model = body.model;
    if (!format) {
      rec.status = 200;
      return sendJson(res, 200, countApi === "google-generative-ai" ? geminiCountTokens(body) : countTokens(body));
    }

    const offered = format.offeredTools(body);
    const offeredNames = offered.map((t) => t.name);
    const toolResults = format.toolResultCount(body);
    const stream = format.isStream(body);
    rec.stream = stream;
    rec.tools = offeredNames;
    rec.toolResults = toolResults;

    const selection = selectStep(this.script, toolResults, offered.length > 0, this.errorServed);
    rec.stepIndex = selection.index;
    const step = selection.kind === "step" ? selection.step : undefined;

    if (step?.delay_ms) await pause(res, step.delay_ms);
    if (res.destroyed) return;

    if (step?.error) {
      const e = step.error;
      if (e.times !== undefined) this.errorServed.set(selection.index, (this.errorServed.get(selection.index) ?? 0) + 1);
      rec.reply = "error";
      const headers: Record<string, string> = {};
      if (e.retry_after !== undefined) {
        headers["retry-after"] = String(e.retry_after);
        headers["retry-after-ms"] = String(Math.round(e.retry_after * 1000));
      }
      return fail(e.status, e.message, e.type, e.code, headers);
    }

    const reply: Reply = { stepIndex: selection.index, toolCalls: [] };
    if (selection.kind === "side") {
      reply.text = SIDE_REQUEST_TEXT;
      rec.reply = "side";
    } else if (selection.kind === "finished") {
      reply.text = FINISHED_TEXT;
      rec.reply = "finished";
    } else if (step) {
      reply.text = step.text;
      reply.thinking = step.thinking;
      reply.toolCalls = stepToolCalls(step).map((call) => {
        const name = resolveToolName(call.name, offeredNames);
        return { name, input: call.input ?? {}, toolType: offered.find((t) => t.name === name)?.type };
      });
      rec.reply = reply.toolCalls.length > 0 ? "tool_calls" : "text";
    }

    const model = rec.model || this.models[0] || DEFAULT_MODEL;
    const ctx = {
      model,
      responseSeq: ++this.responseSeq,
      created: Math.floor(Date.now() / 1000),
      usage: estimateUsage(format, body, reply),
      body,
    };
    rec.status = 200;
    const requestId = `req_mock_${String(ctx.responseSeq).padStart(6, "0")}`;

    if (!stream) return sendJson(res, 200, format.json(reply, ctx), { "request-id": requestId, "x-request-id": requestId });

    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "request-id": requestId,
      "x-request-id": requestId,
    });
    res.flushHeaders();
    const chunkDelay = step?.chunk_delay_ms ?? 0;
    const events = format.events(reply, ctx);
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if (i > 0 && chunkDelay > 0) await pause(res, chunkDelay);
      await write(res, sseFrame(events[i]!));
    }
    if (!res.destroyed) res.end();
  }
}
