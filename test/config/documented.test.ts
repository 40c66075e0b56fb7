import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ENV } from "../../src/config/env.js";

const REPO = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

// Names berth sets for the sandbox, not settings an operator gives it.
const FOR_THE_SANDBOX = new Set(["BERTH_SESSION_ID", "BERTH_POOL_ENTRY", "BERTH_GATEWAY_TOKEN", "BERTH_GATEWAY_URL", "BERTH_RELAY_FORWARDS"]);
// A CLI option's environment alias, read by commander for that command only (docs/mock-provider.md).
const CLI_OPTION_ALIASES = new Set(["BERTH_MOCK_REQUIRE_KEY"]);

describe("configuration", () => {
  it("every BERTH_* variable berth reads is in the one schema (config/env.ts)", () => {
    const read = new Set<string>();
    for (const file of sources(join(REPO, "src"))) {
      const text = readFileSync(file, "utf8");
      // env.BERTH_X, env["BERTH_X"], and names handed to a parser as strings ("BERTH_X").
      for (const m of text.matchAll(/\benv(?:\.|\[")(BERTH_[A-Z0-9_]+)|"(BERTH_[A-Z0-9_]*[A-Z0-9])"/g)) read.add((m[1] ?? m[2])!);
    }
    expect(read.size).toBeGreaterThan(30);
    const missing = [...read].filter((v) => !FOR_THE_SANDBOX.has(v) && !CLI_OPTION_ALIASES.has(v) && !(v in ENV)).sort();
    expect(missing, "add these to ENV in src/config/env.ts").toEqual([]);
  });

  it("the README's configuration table lists every variable of the schema with its default, and nothing else", () => {
    const rows = readFileSync(join(REPO, "README.md"), "utf8")
      .split("\n")
      .filter((l) => /^\| `[A-Z0-9_]+`/.test(l));
    for (const [name, v] of Object.entries(ENV)) {
      const row = rows.find((r) => r.split("|")[1]!.includes(`\`${name}\``));
      expect(row, `${name} has no row in the README's configuration table`).toBeDefined();
      expect(row!.split("|")[2], `${name}'s default in the README`).toContain(v.shown);
    }
    const listed = rows.flatMap((r) => [...r.split("|")[1]!.matchAll(/`((?:BERTH_|OTEL_)?[A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
    // OTEL_* are the OpenTelemetry spec's; *_API_KEY and *_BASE_URL are read by name by the provider registry.
    const unknown = listed.filter((n) => !(n in ENV) && !n.startsWith("OTEL_") && !/_(API_KEY|BASE_URL)$/.test(n)).sort();
    expect(unknown, "README rows for variables the schema does not have").toEqual([]);
  });
});
