// Every string berth writes (events, logs, errors, responses) passes through here.
// Two layers: exact live secret values that berth holds (keys, gateway tokens), and
// credential shapes berth did not issue but must not echo (a key pasted into a prompt,
// a token a tool printed).

import { CREDENTIAL_SHAPES, HTTP_AUTH_SHAPE } from "./shapes.js";

export const REDACTED = "[REDACTED]";

// One list of credential shapes for redaction and for scanning (secrets/shapes.ts).
const SHAPES: RegExp[] = CREDENTIAL_SHAPES.map((s) => s.re);
const BEARER = HTTP_AUTH_SHAPE;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export class Redactor {
  private values = new Map<string, number>();
  private valuesRe: RegExp | null = null;

  /** Registers a live secret; returns a function that forgets it. Short values are ignored: they'd redact ordinary words. */
  add(value: string | undefined | null): () => void {
    if (!value || value.length < 8) return () => {};
    this.values.set(value, (this.values.get(value) ?? 0) + 1);
    this.valuesRe = null;
    return () => {
      const n = (this.values.get(value) ?? 1) - 1;
      if (n <= 0) this.values.delete(value);
      else this.values.set(value, n);
      this.valuesRe = null;
    };
  }

  redact(text: string): string {
    if (this.values.size > 0) {
      // Longest first, so a secret that contains another is replaced whole.
      this.valuesRe ??= new RegExp(
        [...this.values.keys()].sort((a, b) => b.length - a.length).map(escapeRe).join("|"),
        "g",
      );
      text = text.replace(this.valuesRe, REDACTED);
    }
    for (const re of SHAPES) text = text.replace(re, REDACTED);
    return text.replace(BEARER, `$1 ${REDACTED}`);
  }

  /** Deep-redacts every string in a JSON-able value. */
  redactValue<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }
}

/** The process-wide redactor: loggers and the error handler use it. */
export const redactor = new Redactor();
