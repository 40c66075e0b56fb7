import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProbeResult } from "./conformance.js";

// The latest `berth conformance` report of each tier, kept in BERTH_HOME so the server (the
// console's conformance page, GET /v1/conformance) can show what the sandboxes proved last,
// without loading the prober.

export interface RecordedReport {
  tier: string;
  driver: string;
  error?: string;
  results: ProbeResult[];
  /** When the run finished. */
  ranAt: string;
}

/** Where `berth conformance` keeps each tier's latest report (the console's conformance page reads them). */
export const conformanceDir = (home: string) => join(home, "conformance");

/** Records each tier's report as `<home>/conformance/<tier>.json`, with when it ran. */
export function saveReports(home: string, reports: Omit<RecordedReport, "ranAt">[], at = new Date()): void {
  const dir = conformanceDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const r of reports) writeFileSync(join(dir, `${r.tier}.json`), JSON.stringify({ ...r, ranAt: at.toISOString() }, null, 2), { mode: 0o600 });
}

/** The latest report of every tier that has one; unreadable files are skipped. */
export function readReports(home: string): RecordedReport[] {
  const dir = conformanceDir(home);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^[a-z-]+\.json$/.test(f))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), "utf8")) as RecordedReport];
      } catch {
        return [];
      }
    });
}
