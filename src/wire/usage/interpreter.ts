import type { Scalar } from "../json-scan.js";
import type { ModelUsage } from "./types.js";

// What the per-API interpreters share: the fields a scanner captured, and the result shape.

export type Fields = Map<string, Scalar>;

export function num(f: Fields, k: string): number | undefined {
  const v = f.get(k);
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export function str(f: Fields, k: string): string | undefined {
  const v = f.get(k);
  return typeof v === "string" && v ? v : undefined;
}

/** Accumulates fields from one body or one SSE event at a time. */
export interface Interpreter {
  /** Fields of interest in a plain JSON body, and in one SSE event's data. */
  jsonPaths: string[];
  ssePaths: string[];
  /** SSE event names worth scanning (others are skipped unparsed); undefined scans every event. */
  sseEvents?: Set<string>;
  json(f: Fields): void;
  event(name: string | undefined, f: Fields): void;
  result(): ModelUsage;
}

type TokenCounts = Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens" | "reasoningTokens">;

/** What every interpreter reports, with the optional fields present only when known. */
export function usageResult(
  t: TokenCounts,
  m: { model?: string; id?: string; finish: string[]; reported: boolean; err?: string },
): ModelUsage {
  return {
    inputTokens: t.inputTokens,
    outputTokens: t.outputTokens,
    cacheReadTokens: t.cacheReadTokens,
    cacheWriteTokens: t.cacheWriteTokens,
    ...(t.reasoningTokens !== undefined ? { reasoningTokens: t.reasoningTokens } : {}),
    ...(m.model ? { responseModel: m.model } : {}),
    ...(m.id ? { responseId: m.id } : {}),
    ...(m.finish.length ? { finishReasons: m.finish } : {}),
    reported: m.reported,
    ...(m.err ? { streamError: m.err } : {}),
  };
}

/** Finish reasons per choice/candidate index, in index order. */
export function byIndex(reasons: Map<number, string>): string[] {
  return [...reasons.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}
