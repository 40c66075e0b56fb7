// What an image must not ship (docs/design.md, decision 7): a non-redistributable harness
// (by package, binary name or license text), a baked login, secrets or root in its config.
// `berth image check` (check.ts) runs these over every file of the input.

import { HARNESSES } from "../harnesses/registry.js";
import { findSecrets, fingerprint, plausible, redactSecret } from "../secrets/matcher.js";
import type { ImageConfig, ImageFinding } from "./types.js";

// --- what is not redistributable ---------------------------------------------------------

export interface Forbidden {
  test: (pkg: string) => boolean;
  why: string;
}

/** npm packages berth must never find in an image it ships: every package of a non-redistributable harness, and Anthropic's proprietary CLI/SDK packages however they got there. */
export function forbiddenPackages(): Forbidden[] {
  const out: Forbidden[] = [];
  for (const h of HARNESSES.filter((x) => !x.redistributable))
    for (const p of h.packages) out.push({ test: (n) => n === p.name, why: `package of ${h.name} (${h.license}), which may not be redistributed` });
  out.push({
    test: (n) => /^@anthropic-ai\/claude-(?:code|agent-sdk)(?:-[a-z0-9-]+)?$/.test(n),
    why: "Anthropic's proprietary Claude Code / Claude Agent SDK (Anthropic's Commercial Terms; not redistributable)",
  });
  return out;
}

export const NON_REDISTRIBUTABLE_IDS = new Set(HARNESSES.filter((h) => !h.redistributable).map((h) => h.id));

/** Binaries that only a proprietary harness installs. */
export const PROPRIETARY_BINARIES = new Set(["claude", "claude.exe"]);

/** Anthropic's proprietary license notice (the Claude Code / Agent SDK LICENSE.md). */
export const PROPRIETARY_LICENSE = /Anthropic PBC\.?\s+All rights reserved|Anthropic[\s\S]{0,200}Legal Agreements/i;
export const LICENSE_FILE = /^(?:LICEN[CS]E|COPYING|NOTICE)(?:[.-][\w.-]*)?$/i;

/** Test data inside an installed npm package (ssh2 ships dozens of test keys, for one). */
export const NPM_FIXTURE = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\/(?:[^/]+\/)*(?:test|tests|__tests__|__fixtures__|fixtures|testdata|spec|specs|example|examples)\//;

// --- baked logins ------------------------------------------------------------------------

export interface LoginRule {
  /** Matches the path. */
  path: RegExp;
  /** Content that makes it a login (default: any non-empty file). */
  content?: RegExp;
  what: string;
}

/** `${VAR}` and empty values are references or nothing, not baked secrets. */
export const VALUE = String.raw`(?!\s*(?:\$\{[^}]*\}|\$[A-Za-z_]\w*)?\s*$)`;

export const LOGIN_RULES: LoginRule[] = [
  { path: /\/\.claude\/\.credentials\.json$/, what: "Claude Code login (OAuth credentials)" },
  { path: /\/\.claude\.json$/, content: /"oauthAccount"|"primaryApiKey"|sk-ant-/, what: "Claude Code account state with a login or API key" },
  { path: /\/\.pi\/agent\/auth\.json$/, what: "Pi login (auth.json)" },
  { path: /\/\.codex\/auth\.json$/, what: "Codex login (auth.json)" },
  { path: /\/\.?npmrc$/, content: new RegExp(String.raw`(?:_authToken|_auth|_password)\s*=${VALUE}[^\n]*\S`, "m"), what: "npm registry credentials" },
  { path: /\/\.git-credentials$/, content: /\S/, what: "git stored credentials" },
  { path: /\/\.netrc$/, content: /\bpassword\s+\S/, what: ".netrc with a password" },
  { path: /\/\.config\/gh\/hosts\.ya?ml$/, content: /oauth_token:\s*\S/, what: "GitHub CLI login" },
  { path: /\/\.docker\/config\.json$/, content: /"auth"\s*:\s*"[^"]+"|"identitytoken"\s*:\s*"[^"]+"/, what: "container registry login" },
  { path: /\/\.aws\/credentials$/, content: /aws_secret_access_key\s*=\s*\S/, what: "AWS credentials" },
  { path: /\/(?:\.berth|var\/lib\/berth)\/token$/, content: /\S/, what: "berth API token" },
];

// --- config ------------------------------------------------------------------------------

/** Environment / build-argument names that hold secrets. */
export const SECRET_NAME = /(?:^|_)(?:API_?KEY|ACCESS_?KEY|SECRET(?:_ACCESS)?_?KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_?KEY)$/i;

export function secretValue(v: string): boolean {
  return v.length >= 8 && !/^(?:\/|\$|\{\{)/.test(v) && !/^(?:true|false|none|null|changeme)$/i.test(v);
}

export function rootUser(user: string | undefined, passwd: Map<string, number>): string | undefined {
  const u = (user ?? "").split(":")[0]!.trim();
  if (u === "" || u === "root" || u === "0") return user ? `runs as '${user}' (root)` : "no USER: runs as root";
  if (/^\d+$/.test(u)) return undefined;
  if (passwd.get(u) === 0) return `runs as '${user}', which /etc/passwd maps to uid 0`;
  return undefined;
}

export function scanString(text: string): { kind: string; fp: string; shown: string }[] {
  return findSecrets(text)
    .filter((m) => plausible(m, text))
    .map((m) => ({ kind: m.kind, fp: fingerprint(m.value), shown: redactSecret(m) }));
}

export function configFindings(config: ImageConfig, passwd: Map<string, number>): ImageFinding[] {
  const out: ImageFinding[] = [];
  const c = config.config ?? {};
  const root = rootUser(c.User, passwd);
  if (root) out.push({ severity: "error", rule: "root-user", path: "config:User", detail: `${root}; set a non-root USER (e.g. USER 1000:1000)` });
  for (const [i, e] of (c.Env ?? []).entries()) {
    const eq = e.indexOf("=");
    const name = eq < 0 ? e : e.slice(0, eq);
    const value = eq < 0 ? "" : e.slice(eq + 1);
    const hits = scanString(value);
    for (const h of hits)
      out.push({ severity: "error", rule: "credential", path: `config:Env[${i}] ${name}`, detail: `${h.kind} in ENV ${name}=${h.shown}`, kind: h.kind, fingerprint: h.fp });
    if (!hits.length && SECRET_NAME.test(name) && secretValue(value))
      out.push({ severity: "error", rule: "secret-env", path: `config:Env[${i}] ${name}`, detail: `ENV ${name} has a value baked into the image; pass it at run time`, fingerprint: fingerprint(value) });
  }
  for (const [k, v] of Object.entries(c.Labels ?? {}))
    for (const h of scanString(v))
      out.push({ severity: "error", rule: "credential", path: `config:Labels ${k}`, detail: `${h.kind} in LABEL ${k}=${h.shown}`, kind: h.kind, fingerprint: h.fp });
  for (const [field, v] of [["Cmd", c.Cmd], ["Entrypoint", c.Entrypoint]] as const)
    for (const h of scanString((v ?? []).join(" ")))
      out.push({ severity: "error", rule: "credential", path: `config:${field}`, detail: `${h.kind} in ${field.toUpperCase()}: ${h.shown}`, kind: h.kind, fingerprint: h.fp });
  for (const [i, h] of (config.history ?? []).entries()) {
    const text = `${h.created_by ?? ""}\n${h.comment ?? ""}`;
    const hits = scanString(text);
    for (const x of hits)
      out.push({ severity: "error", rule: "credential", path: `config:history[${i}]`, detail: `${x.kind} in the build history: ${x.shown}`, kind: x.kind, fingerprint: x.fp });
    // Build arguments a RUN saw are recorded as "|N NAME=value ..." in front of the command.
    const args = /^\|(\d+) (.*)$/s.exec(h.created_by ?? "");
    if (args && !hits.length) {
      for (const m of args[2]!.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) {
        if (SECRET_NAME.test(m[1]!) && secretValue(m[2]!))
          out.push({
            severity: "error",
            rule: "secret-env",
            path: `config:history[${i}]`,
            detail: `build argument ${m[1]} is recorded in the image history; use a build secret (RUN --mount=type=secret) instead`,
            fingerprint: fingerprint(m[2]!),
          });
      }
    }
  }
  return out;
}
