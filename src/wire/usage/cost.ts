import type { ModelUsage } from "./types.js";

export interface ModelPrice {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/**
 * Cost in USD. Cached tokens are a subset of inputTokens, so uncached input is charged at
 * `input` and the cached parts at their own rates; reasoning is inside outputTokens.
 */
export function computeCost(usage: Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens">, price?: ModelPrice): number | undefined {
  if (!price) return undefined;
  const uncached = Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens);
  const micro =
    uncached * price.input +
    usage.cacheReadTokens * (price.cacheRead ?? price.input) +
    usage.cacheWriteTokens * (price.cacheWrite ?? price.input) +
    usage.outputTokens * price.output;
  return micro / 1_000_000;
}
