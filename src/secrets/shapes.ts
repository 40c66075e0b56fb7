// The shapes of credentials: the one list the redactor (every log line and event) and the
// scanners (files, images) both use.

export interface CredentialShape {
  kind: string;
  /** Global regex. The first shapes win where two match the same text. */
  re: RegExp;
  /** Literal the text must contain for the regex to have a chance (a fast pre-check). */
  hints: readonly string[];
}

/**
 * The shapes of credentials berth must neither echo (redaction) nor find in a file or an
 * image (scanning). The regexes match what src/secrets/redact.ts redacts; scanning then
 * drops matches that are plainly not secrets (see `plausible`).
 */
export const CREDENTIAL_SHAPES: readonly CredentialShape[] = [
  { kind: "anthropic-key", re: /sk-ant-[A-Za-z0-9_-]{16,}/g, hints: ["sk-ant-"] }, // API keys and OAuth tokens
  { kind: "openai-key", re: /sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/g, hints: ["sk-"] },
  { kind: "github-token", re: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, hints: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] },
  { kind: "github-token", re: /\bgithub_pat_[A-Za-z0-9_]{40,}\b/g, hints: ["github_pat_"] },
  { kind: "aws-access-key-id", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, hints: ["AKIA", "ASIA"] },
  {
    kind: "private-key",
    re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
    hints: ["PRIVATE KEY-----"],
  },
  { kind: "slack-token", re: /\bxox[baprs]-[A-Za-z0-9-]{10,}\b/g, hints: ["xox"] },
  { kind: "google-api-key", re: /\bAIza[0-9A-Za-z_-]{35}\b/g, hints: ["AIza"] },
  // Not (yet) in redact.ts: npm tokens, and berth's own API and gateway tokens (newSecret: 32 bytes base64url).
  { kind: "npm-token", re: /\bnpm_[A-Za-z0-9]{36}\b/g, hints: ["npm_"] },
  { kind: "berth-token", re: /\bb[rg]t_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, hints: ["brt_", "bgt_"] },
];

/** `Authorization: Bearer …` / `Basic …` values; group 1 is the scheme, kept when redacting. */
export const HTTP_AUTH_SHAPE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}/gi;
export const HTTP_AUTH: CredentialShape = { kind: "http-auth", re: HTTP_AUTH_SHAPE, hints: [] };
