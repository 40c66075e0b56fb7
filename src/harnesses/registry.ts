import { claude } from "./claude.js";
import { codex } from "./codex.js";
import { gemini } from "./gemini.js";
import { opencode } from "./opencode.js";
import { pi } from "./pi.js";
import type { HarnessSpec } from "./types.js";

const known: HarnessSpec[] = [pi, claude, codex, gemini, opencode];

/** Every harness berth knows, one file each (and any an embedder registered). */
export const HARNESSES: readonly HarnessSpec[] = known;

/**
 * Adds a harness to this process's registry: for embedders with a harness of their own,
 * and for berth's tests and benchmarks (a minimal ACP agent that needs no model).
 */
export function registerHarness(spec: HarnessSpec): void {
  if (!/^[a-z0-9-]+$/.test(spec.id)) throw new Error(`harness id '${spec.id}' must be lower-case letters, digits and dashes`);
  if (getHarness(spec.id)) throw new Error(`a harness '${spec.id}' is already registered`);
  known.push(spec);
}

export function getHarness(id: string): HarnessSpec | undefined {
  return HARNESSES.find((h) => h.id === id);
}
