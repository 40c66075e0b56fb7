// Finding credentials in text: shape matches judged plausible (not placeholders, not
// low-entropy runs), fingerprints, and redacted excerpts; a match never leaves with its value.
import { createHash } from "node:crypto";
import { CREDENTIAL_SHAPES, HTTP_AUTH } from "./shapes.js";

export interface SecretMatch {
  kind: string;
  /** Offsets into the scanned text. */
  start: number;
  end: number;
  /** The secret itself: for fingerprints and redaction; never print it. */
  value: string;
}

const PREFIX = /^(?:sk-ant-(?:api|oat|ort|admin)\d*-|sk-ant-|sk-(?:proj-|svcacct-|admin-)?|gh[pousr]_|github_pat_|AKIA|ASIA|xox[baprs]-|AIza|npm_|b[rg]t_|(?:Bearer|Basic)\s+)/i;

/** The longest run of consecutive characters (abcdef, 012345) in s. */
function ascendingRun(s: string): number {
  let best = 1;
  let run = 1;
  for (let i = 1; i < s.length; i++) {
    run = s.charCodeAt(i) === s.charCodeAt(i - 1) + 1 ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const n = new Map<string, number>();
  for (const c of s) n.set(c, (n.get(c) ?? 0) + 1);
  let h = 0;
  for (const k of n.values()) h -= (k / s.length) * Math.log2(k / s.length);
  return h;
}

/**
 * Is a match worth reporting from a file? The redactor errs towards hiding; a scanner that
 * fails builds must not cry wolf. Dropped: placeholders (a run of 8 equal characters,
 * EXAMPLE as in documentation keys, abcdef/012345 sequences, lowercase words joined by
 * dashes), bodies without a digit or mixed case, `sk-` inside a longer word
 * (disk-usage-...), PEM markers quoted in code (no base64 body), `Basic` values that are
 * not base64 of user:password, and short or low-entropy `Bearer` values.
 */
export function plausible(m: SecretMatch, text: string): boolean {
  const v = m.value;
  if (m.kind === "private-key") {
    const body = v.replace(/^-----BEGIN [A-Z ]*PRIVATE KEY-----/, "").replace(/-----END [A-Z ]*PRIVATE KEY-----$/, "");
    // Headers of legacy encrypted PEM (Proc-Type: ..., DEK-Info: ...) are allowed; then base64 lines,
    // separated by real or escaped (JSON string) newlines.
    const b64 = body.replace(/^(?:\s|\\[nr])*(?:[A-Za-z-]+:[^\n\\]*(?:\s|\\[nr])+)*/, "").replace(/\\[nr]|\s/g, "");
    return b64.length >= 64 && /^[A-Za-z0-9+/=]+$/.test(b64) && !/(.)\1{15}/.test(b64);
  }
  if (m.start > 0 && /[A-Za-z0-9_-]/.test(text[m.start - 1]!)) return false;
  const body = v.replace(PREFIX, "");
  if (/(.)\1{7}/.test(body) || /EXAMPLE/i.test(body) || /x{6,}|X{6,}/.test(body) || ascendingRun(body) >= 6) return false;
  // Words joined by dashes (file-secret-value-01, otlp-secret-token-123): a test value, not a token.
  const parts = body.split(/[-_.]/).filter(Boolean);
  if (parts.length >= 2 && parts.every((p) => /^(?:[a-z]+|[0-9]+)$/.test(p))) return false;
  // Random tokens mix digits and letters, or at least cases; kebab-case words do not.
  if (!/[A-Za-z]/.test(body) || !(/[0-9]/.test(body) || (/[a-z]/.test(body) && /[A-Z]/.test(body)))) return false;
  if (m.kind === "http-auth") {
    // In files, only a header value as written (`Bearer …`, `Basic …`), and Basic must be base64 of user:password.
    if (!/^(?:Bearer|Basic)\s/.test(v)) return false;
    if (v.startsWith("Basic")) return /^[A-Za-z0-9+/]+=*$/.test(body) && /^[\x20-\x7e]+:[\x20-\x7e]+$/.test(Buffer.from(body, "base64").toString("latin1"));
    return body.length >= 20 && entropy(body) >= 3.5;
  }
  return entropy(body) >= 3;
}

/**
 * Every credential-shaped string in `text`, overlapping matches resolved in favour of the
 * earlier shape. `all` keeps implausible ones too (what the redactor would hide).
 */
export function findSecrets(text: string, opts: { all?: boolean } = {}): SecretMatch[] {
  const out: SecretMatch[] = [];
  const taken: [number, number][] = [];
  for (const shape of [...CREDENTIAL_SHAPES, HTTP_AUTH]) {
    if (shape.hints.length && !shape.hints.some((h) => text.includes(h))) continue;
    const re = new RegExp(shape.re.source, shape.re.flags);
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const hit: SecretMatch = { kind: shape.kind, start: m.index, end: m.index + m[0].length, value: m[0] };
      if (!opts.all && !plausible(hit, text)) {
        // A quoted BEGIN marker may have swallowed a real key after it: look again from the next character.
        if (shape.kind === "private-key") re.lastIndex = m.index + 1;
        continue;
      }
      if (taken.some(([s, e]) => hit.start < e && s < hit.end)) continue;
      taken.push([hit.start, hit.end]);
      out.push(hit);
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** A stable, non-reversible id of a secret value (for allowlists and de-duplication). */
export function fingerprint(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

/** What may be shown of a secret: its public prefix (sk-ant-api03-, ghp_, AKIA, the PEM header). */
export function redactSecret(m: Pick<SecretMatch, "kind" | "value">): string {
  if (m.kind === "private-key") return `${/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.exec(m.value)?.[0] ?? ""}[REDACTED]`;
  const p = PREFIX.exec(m.value)?.[0] ?? "";
  return `${p.replace(/\s+/g, " ")}[REDACTED]`;
}

/**
 * One line around a match, the match and every other credential-shaped string near it
 * redacted (also one cut by the edge of the excerpt). Works on latin1-decoded text (bytes
 * as characters) when `latin1`, and returns UTF-8 either way.
 */
export function excerpt(text: string, m: SecretMatch, width = 40, latin1 = false): string {
  const lineStart = text.lastIndexOf("\n", m.start - 1) + 1;
  let lineEnd = text.indexOf("\n", m.end);
  if (lineEnd < 0) lineEnd = text.length;
  const from = Math.max(lineStart, m.start - width);
  const to = Math.min(lineEnd, m.end + width);
  const rs = Math.max(lineStart, m.start - 400);
  const region = text.slice(rs, Math.min(lineEnd, m.end + 400));
  const hits = [m, ...findSecrets(region, { all: true }).map((x) => ({ ...x, start: x.start + rs, end: x.end + rs }))].sort(
    (a, b) => a.start - b.start || (a === m ? -1 : 1),
  );
  let s = "";
  let pos = from;
  for (const h of hits) {
    if (h.end <= pos || h.start >= to) continue;
    s += text.slice(pos, Math.max(pos, h.start));
    s += h.start >= from && h.end <= to ? redactSecret(h) : "[REDACTED]";
    pos = h.end;
  }
  if (pos < to) s += text.slice(pos, to);
  if (latin1) s = Buffer.from(s, "latin1").toString("utf8");
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f\ufffd]+/g, " ").trim();
  return (from > lineStart ? "…" : "") + s + (to < lineEnd ? "…" : "");
}

/** A credential found at a place: what `secrets scan` and `image check` report. */
