import pino, { type Logger } from "pino";
import type { Redactor } from "../secrets/redact.js";

/** pino, with every line passed through the redactor as the last step before it is written. */
export function createLogger(redactor: Redactor, opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: { svc: "berth" },
      redact: { paths: ["req.headers.authorization", "*.apiKey", "*.token"], censor: "[REDACTED]" },
      hooks: { streamWrite: (s) => redactor.redact(s) },
    },
    opts.destination ?? pino.destination(2),
  );
}
