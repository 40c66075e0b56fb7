import { num, str, usageResult, type Fields, type Interpreter } from "./interpreter.js";

const ANTHROPIC_USAGE = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"];

export function anthropic(): Interpreter {
  let input: number | undefined, output: number | undefined, cacheWrite: number | undefined, cacheRead: number | undefined;
  let model: string | undefined, id: string | undefined, stop: string | undefined, err: string | undefined;
  let reported = false;
  const usage = (f: Fields, prefix: string) => {
    // message_delta's counts are cumulative: later values replace earlier ones.
    const i = num(f, `${prefix}input_tokens`), o = num(f, `${prefix}output_tokens`);
    const w = num(f, `${prefix}cache_creation_input_tokens`), r = num(f, `${prefix}cache_read_input_tokens`);
    if (i !== undefined) input = i;
    if (o !== undefined) output = o;
    if (w !== undefined) cacheWrite = w;
    if (r !== undefined) cacheRead = r;
    if (i !== undefined || o !== undefined) reported = true;
  };
  return {
    jsonPaths: ["type", "id", "model", "stop_reason", "error.type", ...ANTHROPIC_USAGE.map((k) => `usage.${k}`)],
    ssePaths: [
      "type",
      "message.id",
      "message.model",
      "message.stop_reason",
      ...ANTHROPIC_USAGE.map((k) => `message.usage.${k}`),
      "delta.stop_reason",
      ...ANTHROPIC_USAGE.map((k) => `usage.${k}`),
      "error.type",
    ],
    sseEvents: new Set(["message_start", "message_delta", "error"]),
    json(f) {
      if (str(f, "type") === "error") err = str(f, "error.type") ?? "error";
      model = str(f, "model") ?? model;
      id = str(f, "id") ?? id;
      stop = str(f, "stop_reason") ?? stop;
      usage(f, "usage.");
    },
    event(name, f) {
      const type = str(f, "type") ?? name;
      if (type === "message_start") {
        model = str(f, "message.model") ?? model;
        id = str(f, "message.id") ?? id;
        stop = str(f, "message.stop_reason") ?? stop;
        usage(f, "message.usage.");
      } else if (type === "message_delta") {
        stop = str(f, "delta.stop_reason") ?? stop;
        usage(f, "usage.");
      } else if (type === "error") err = str(f, "error.type") ?? "error";
    },
    result() {
      const read = cacheRead ?? 0, write = cacheWrite ?? 0;
      return usageResult(
        { inputTokens: (input ?? 0) + read + write, outputTokens: output ?? 0, cacheReadTokens: read, cacheWriteTokens: write },
        { model, id, finish: stop ? [stop] : [], reported, err },
      );
    },
  };
}
