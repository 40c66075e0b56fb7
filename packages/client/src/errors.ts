import type { ErrorCode } from "./types.js";

/**
 * Every failure the SDK reports: an API error (`status` and the server's `code`), or one of
 * the SDK's own (`status` 0): `network_error`, `session_failed`, `aborted`, `timeout`.
 */
export class BerthError extends Error {
  override readonly name = "BerthError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "network_error" | "session_failed" | "aborted" | "timeout" | "http_error",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** From a non-2xx response: the server's `{error: {code, message}}`, or the status alone. */
  static async from(res: Response): Promise<BerthError> {
    const text = await res.text().catch(() => "");
    let body: { error?: { code?: string; message?: string } } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: a proxy's page, say */
    }
    const e = body?.error;
    return new BerthError(res.status, (e?.code as ErrorCode | undefined) ?? "http_error", e?.message ?? `HTTP ${res.status} ${res.statusText}`.trim());
  }
}
