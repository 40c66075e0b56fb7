import { readFileSync } from "node:fs";

// Provider credentials by name. A name resolves, in order, from: the per-session secrets
// a client passed in (memory only), berth's own environment `NAME`, or the file named by
// `NAME_FILE` (read and trimmed; the usual way container secrets arrive). Values never
// appear in messages: errors name the variable and the file path, never the content.

export type SecretSource = "session" | "env" | "file";

export interface SecretLookup {
  env?: NodeJS.ProcessEnv;
  /** Per-session secrets (name → value), held in memory only. */
  session?: ReadonlyMap<string, string>;
}

export interface ResolvedSecret {
  value: string;
  from: SecretSource;
  /** Where it came from, for humans: "per-session secret", "$NAME", "$NAME_FILE (/run/secrets/x)". Never the value. */
  where: string;
}

/** A NAME_FILE that is set but cannot be used. The message names the variable and path only. */
export class SecretFileError extends Error {
  constructor(
    readonly secret: string,
    readonly path: string,
    reason: string,
  ) {
    super(`${secret}_FILE names ${path}, which ${reason}`);
  }
}

/** Secret names are environment-variable shaped. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The value of secret `name`, or undefined when no source has it. Empty values count as
 * absent (an exported-but-empty variable is not a credential). Throws SecretFileError when
 * `NAME_FILE` is set but unreadable or empty: that is a misconfiguration, not an absence.
 */
export function resolveSecret(name: string, lookup: SecretLookup = {}): ResolvedSecret | undefined {
  const env = lookup.env ?? process.env;
  const s = lookup.session?.get(name);
  if (s) return { value: s, from: "session", where: "per-session secret" };
  const e = env[name];
  if (e) return { value: e, from: "env", where: `$${name}` };
  const path = env[`${name}_FILE`];
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SecretFileError(name, path, code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? "error"})`);
    }
    const value = text.trim();
    if (!value) throw new SecretFileError(name, path, "is empty");
    return { value, from: "file", where: `$${name}_FILE (${path})` };
  }
  return undefined;
}

/** Whether `name` resolves, without throwing and without returning the value. */
export function secretPresent(name: string, lookup: SecretLookup = {}): boolean {
  try {
    return resolveSecret(name, lookup) !== undefined;
  } catch {
    return false;
  }
}

/** The ways to provide secret `name`, for error messages. */
export function secretHowTo(name: string): string {
  return `set ${name} in berth's environment, or ${name}_FILE to a file holding it, or pass it as the per-session secret '${name}'`;
}
