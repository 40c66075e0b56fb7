import { claude } from "./claude.js";
import { codex } from "./codex.js";
import { gemini } from "./gemini.js";
import { opencode } from "./opencode.js";
import { pi } from "./pi.js";
import type { HarnessSpec } from "./types.js";

/** Every harness berth knows, one file each. */
export const HARNESSES: readonly HarnessSpec[] = [pi, claude, codex, gemini, opencode];

export function getHarness(id: string): HarnessSpec | undefined {
  return HARNESSES.find((h) => h.id === id);
}
