// What berth reads of a model response's usage, as the taps report it.

export interface ModelUsage {
  /**
   * All input tokens, cached ones included (the meaning of `gen_ai.usage.input_tokens`):
   * Anthropic's input_tokens + cache_read_input_tokens + cache_creation_input_tokens, or
   * OpenAI's prompt_tokens / input_tokens, which already include cached tokens.
   */
  inputTokens: number;
  /** Output tokens, reasoning tokens included. */
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a subset of inputTokens). */
  cacheReadTokens: number;
  /** Input tokens written to the provider's prompt cache (a subset of inputTokens). */
  cacheWriteTokens: number;
  /** Reasoning/thinking output tokens when the provider reports them (a subset of outputTokens). */
  reasoningTokens?: number;
  responseModel?: string;
  responseId?: string;
  /** Provider values as sent: Anthropic stop_reason, OpenAI finish_reason per choice, Responses status or incomplete reason. */
  finishReasons?: string[];
  /** True when the response carried a usage block at all (an OpenAI chat stream without include_usage does not). */
  reported: boolean;
  /** An error reported inside a 200 stream (Anthropic `error` event, Responses `response.failed`): its type or code. */
  streamError?: string;
}

export interface UsageTap {
  write(chunk: Buffer): void;
  /** What was seen so far; may be called more than once (e.g. after an aborted stream). */
  end(): ModelUsage;
}
