import { num, str, usageResult, type Fields, type Interpreter } from "./interpreter.js";

const RESPONSE_FIELDS = [
  "id",
  "model",
  "status",
  "incomplete_details.reason",
  "error.code",
  "usage.input_tokens",
  "usage.output_tokens",
  "usage.input_tokens_details.cached_tokens",
  "usage.output_tokens_details.reasoning_tokens",
];

export function openaiResponses(): Interpreter {
  let input: number | undefined, output: number | undefined, cached: number | undefined, reasoning: number | undefined;
  let model: string | undefined, id: string | undefined, status: string | undefined, incomplete: string | undefined, err: string | undefined;
  let reported = false;
  const take = (f: Fields, p: string) => {
    model = str(f, `${p}model`) ?? model;
    id = str(f, `${p}id`) ?? id;
    status = str(f, `${p}status`) ?? status;
    incomplete = str(f, `${p}incomplete_details.reason`) ?? incomplete;
    const i = num(f, `${p}usage.input_tokens`), o = num(f, `${p}usage.output_tokens`);
    if (i !== undefined) input = i;
    if (o !== undefined) output = o;
    if (i !== undefined || o !== undefined) reported = true;
    const c = num(f, `${p}usage.input_tokens_details.cached_tokens`);
    if (c !== undefined) cached = c;
    const r = num(f, `${p}usage.output_tokens_details.reasoning_tokens`);
    if (r !== undefined) reasoning = r;
    const e = str(f, `${p}error.code`);
    if (e) err = e;
  };
  return {
    jsonPaths: RESPONSE_FIELDS,
    ssePaths: ["type", "code", ...RESPONSE_FIELDS.map((k) => `response.${k}`)],
    sseEvents: new Set(["response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed", "error"]),
    json: (f) => take(f, ""),
    event(name, f) {
      const type = str(f, "type") ?? name;
      if (type === "error") err = str(f, "code") ?? "error";
      else take(f, "response.");
      if (type === "response.failed") err ??= "response.failed";
    },
    result() {
      const finish = incomplete ?? (status && status !== "in_progress" && status !== "queued" ? status : undefined);
      return usageResult(
        { inputTokens: input ?? 0, outputTokens: output ?? 0, cacheReadTokens: cached ?? 0, cacheWriteTokens: 0, reasoningTokens: reasoning },
        { model, id, finish: finish ? [finish] : [], reported, err },
      );
    },
  };
}
