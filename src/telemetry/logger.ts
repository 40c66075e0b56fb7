import pino, { type Logger } from "pino";
import type { Redactor } from "../secrets/redact.js";

/**
 * pino: one JSON line per entry, with an ISO time and the level's name (`"level":"info"`),
 * every line passed through the redactor as the last step before it is written.
 */
export function createLogger(redactor: Redactor, opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: { svc: "berth" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ["req.headers.authorization", "*.apiKey", "*.token"], censor: "[REDACTED]" },
      hooks: { streamWrite: (s) => redactor.redact(s) },
    },
    opts.destination ?? pino.destination(2),
  );
}
