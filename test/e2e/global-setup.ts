import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { HarnessInstaller } from "../../src/harnesses/installer.js";
import { getHarness } from "../../src/harnesses/registry.js";
import { HARNESS_CACHE, REPO } from "./helpers.js";

// End-to-end tests need real parts; a missing one is a failure that says what to install.
export default async function setup(): Promise<void> {
  try {
    execFileSync("bwrap", ["--version"]);
  } catch {
    throw new Error("e2e tests need bubblewrap: run `apt-get install bubblewrap` (scripts/setup.sh does it)");
  }
  if (!existsSync(`${REPO}/dist/bundle/berth.mjs`)) throw new Error("e2e tests run the built CLI: run `npm run build` first");
  // Install harnesses once into a cache shared by every test's BERTH_HOME.
  const installer = new HarnessInstaller(HARNESS_CACHE);
  for (const id of ["pi", "claude", "codex", "gemini", "opencode"])
    await installer.ensure(getHarness(id)!, (m) => process.stderr.write(`[e2e setup] ${id}: ${m}\n`));
}
