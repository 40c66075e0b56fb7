import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HARNESSES } from "../../src/harnesses/registry.js";

// docs/design.md, decision 3: a harness that may not be redistributed is installed at run time,
// from its vendor, and is never part of berth's own package.
const root = join(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));

describe("license guard", () => {
  const proprietary = HARNESSES.filter((h) => !h.redistributable).flatMap((h) => h.packages.map((p) => p.name));
  // Packages these harnesses pull in that are themselves proprietary.
  const alsoForbidden = ["@anthropic-ai/claude-code", "@anthropic-ai/claude-agent-sdk"];

  it("knows at least one non-redistributable harness to guard", () => {
    expect(HARNESSES.every((h) => typeof h.redistributable === "boolean" && h.license.length > 0)).toBe(true);
  });

  it("no non-redistributable harness package is a dependency of berth or anywhere in its lockfile", () => {
    const declared = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies });
    const locked = Object.keys(lock.packages ?? {}).map((p) => p.replace(/^.*node_modules\//, ""));
    for (const name of [...proprietary, ...alsoForbidden]) {
      expect(declared, `${name} in package.json`).not.toContain(name);
      expect(locked, `${name} in package-lock.json`).not.toContain(name);
    }
    // And nothing in the lock carries a Claude Code native binary package either.
    expect(locked.filter((n) => /^@anthropic-ai\/claude-code/.test(n))).toEqual([]);
  });

  it("every harness pins exact versions", () => {
    for (const h of HARNESSES) for (const p of h.packages) expect(p.version, `${h.id}: ${p.name}`).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
  });
});
