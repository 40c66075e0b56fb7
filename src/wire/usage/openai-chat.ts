import { byIndex, num, str, usageResult, type Fields, type Interpreter } from "./interpreter.js";

const CHAT_PATHS = [
  "id",
  "model",
  "usage.prompt_tokens",
  "usage.completion_tokens",
  "usage.prompt_tokens_details.cached_tokens",
  "usage.completion_tokens_details.reasoning_tokens",
  "usage.prompt_cache_hit_tokens", // DeepSeek
  "usage.cached_tokens", // Moonshot/Kimi
  "choices.*.index",
  "choices.*.finish_reason",
  "error.type",
  "error.code",
];

export function openaiChat(): Interpreter {
  let input: number | undefined, output: number | undefined, cached: number | undefined, reasoning: number | undefined;
  let model: string | undefined, id: string | undefined, err: string | undefined;
  let reported = false;
  const reasons = new Map<number, string>();
  const take = (f: Fields) => {
    model ??= str(f, "model");
    id ??= str(f, "id");
    const p = num(f, "usage.prompt_tokens"), c = num(f, "usage.completion_tokens");
    if (p !== undefined) input = p;
    if (c !== undefined) output = c;
    if (p !== undefined || c !== undefined) reported = true;
    const hit = num(f, "usage.prompt_tokens_details.cached_tokens") ?? num(f, "usage.prompt_cache_hit_tokens") ?? num(f, "usage.cached_tokens");
    if (hit !== undefined) cached = hit;
    const r = num(f, "usage.completion_tokens_details.reasoning_tokens");
    if (r !== undefined) reasoning = r;
    for (let pos = 0; ; pos++) {
      const k = `choices.${pos}.`;
      const idx = f.get(`${k}index`), reason = f.get(`${k}finish_reason`);
      if (idx === undefined && reason === undefined) break;
      if (typeof reason === "string" && reason) reasons.set(typeof idx === "number" ? idx : pos, reason);
    }
    const e = str(f, "error.code") ?? str(f, "error.type");
    if (e) err = e;
  };
  return {
    jsonPaths: CHAT_PATHS,
    ssePaths: CHAT_PATHS,
    json: take,
    event: (_name, f) => take(f),
    result() {
      return usageResult(
        { inputTokens: input ?? 0, outputTokens: output ?? 0, cacheReadTokens: cached ?? 0, cacheWriteTokens: 0, reasoningTokens: reasoning },
        { model, id, finish: byIndex(reasons), reported, err },
      );
    },
  };
}
