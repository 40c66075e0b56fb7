import { claude } from "./claude.js";
import { pi } from "./pi.js";
import type { HarnessSpec } from "./types.js";

/** Every harness berth knows, one file each. */
export const HARNESSES: readonly HarnessSpec[] = [pi, claude];

export function getHarness(id: string): HarnessSpec | undefined {
  return HARNESSES.find((h) => h.id === id);
}
