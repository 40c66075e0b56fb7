// Sums vitest JSON reports into one closing line: "N passed, N failed, N skipped".
import { readFileSync } from "node:fs";

let passed = 0, failed = 0, skipped = 0;
const files = process.argv.slice(2);
for (const f of files) {
  const r = JSON.parse(readFileSync(f, "utf8"));
  passed += r.numPassedTests;
  // A file that failed to load has no failed tests of its own; count it once.
  failed += r.numFailedTests || r.numFailedTestSuites;
  skipped += r.numPendingTests + r.numTodoTests;
}
if (files.length < 2) failed += 1; // a project that wrote no report did not run
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
