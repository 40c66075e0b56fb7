import { byIndex, num, str, usageResult, type Fields, type Interpreter } from "./interpreter.js";

const GEMINI_FIELDS = [
  "responseId",
  "modelVersion",
  "usageMetadata.promptTokenCount",
  "usageMetadata.candidatesTokenCount",
  "usageMetadata.cachedContentTokenCount",
  "usageMetadata.thoughtsTokenCount",
  "usageMetadata.toolUsePromptTokenCount",
  "candidates.*.index",
  "candidates.*.finishReason",
  "error.status",
];

/**
 * Gemini generateContent / streamGenerateContent: one object, an SSE stream of them
 * (`alt=sse`) or a JSON array of them. usageMetadata is cumulative (the last one holds the
 * totals); promptTokenCount includes cached tokens; thoughts are counted apart from
 * candidates, so output = candidates + thoughts.
 */
export function gemini(): Interpreter {
  let prompt: number | undefined, toolPrompt: number | undefined, cand: number | undefined, thoughts: number | undefined, cached: number | undefined;
  let model: string | undefined, id: string | undefined, err: string | undefined;
  let reported = false;
  let reasons = new Map<number, string>();
  const take = (f: Fields, p: string) => {
    model = str(f, `${p}modelVersion`) ?? model;
    id = str(f, `${p}responseId`) ?? id;
    const pt = num(f, `${p}usageMetadata.promptTokenCount`), ct = num(f, `${p}usageMetadata.candidatesTokenCount`);
    if (pt !== undefined) prompt = pt;
    if (ct !== undefined) {
      cand = ct;
      reported = true;
    }
    const tp = num(f, `${p}usageMetadata.toolUsePromptTokenCount`);
    if (tp !== undefined) toolPrompt = tp;
    const th = num(f, `${p}usageMetadata.thoughtsTokenCount`);
    if (th !== undefined) thoughts = th;
    const c = num(f, `${p}usageMetadata.cachedContentTokenCount`);
    if (c !== undefined) cached = c;
    const now = new Map<number, string>();
    for (let pos = 0; ; pos++) {
      const k = `${p}candidates.${pos}.`;
      const idx = f.get(`${k}index`), reason = f.get(`${k}finishReason`);
      if (idx === undefined && reason === undefined) break;
      if (typeof reason === "string" && reason) now.set(typeof idx === "number" ? idx : pos, reason);
    }
    if (now.size) reasons = now;
    const e = str(f, `${p}error.status`);
    if (e) err = e;
  };
  return {
    jsonPaths: [...GEMINI_FIELDS, ...GEMINI_FIELDS.map((k) => `*.${k}`)],
    ssePaths: GEMINI_FIELDS,
    json(f) {
      take(f, "");
      // A streamGenerateContent body without alt=sse is a JSON array of chunks: apply them in order.
      let last = -1;
      for (const k of f.keys()) {
        const m = /^(\d+)\./.exec(k);
        if (m) last = Math.max(last, Number(m[1]));
      }
      for (let i = 0; i <= last; i++) take(f, `${i}.`);
    },
    event: (_name, f) => take(f, ""),
    result() {
      return usageResult(
        {
          inputTokens: (prompt ?? 0) + (toolPrompt ?? 0),
          outputTokens: (cand ?? 0) + (thoughts ?? 0),
          cacheReadTokens: cached ?? 0,
          cacheWriteTokens: 0,
          reasoningTokens: thoughts,
        },
        { model, id, finish: byIndex(reasons), reported, err },
      );
    },
  };
}
