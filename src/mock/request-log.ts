import type { LogLabel } from "./routes.js";

/** One request as the mock's log (GET /_mock/requests) shows it: for tests and demos to inspect. */
export interface RecordedRequest {
  time: string;
  method: string;
  /** Path without the query string. */
  path: string;
  /** The wire API (its label: anthropic, openai-chat, openai-responses, gemini), "models", or null. */
  api: LogLabel | null;
  model: string | null;
  stream: boolean;
  /** Script step answered (steps.length when the script is finished); null when no step applies. */
  stepIndex: number | null;
  toolResults: number | null;
  /** null when no key is required. */
  authOk: boolean | null;
  /** Tool names the request offered. */
  tools: string[];
  status: number;
  reply: "text" | "tool_calls" | "error" | "side" | "finished" | null;
  /** Request headers with credentials replaced by [REDACTED]. */
  headers: Record<string, string>;
  durationMs: number | null;
  /** The request body (its first 256 KiB), for checks on what the model was shown; absent for requests without one. */
  body?: string;
  /** The client went away before the response was complete. */
  aborted: boolean;
}
