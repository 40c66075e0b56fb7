import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/api/error-codes.js";
import { generatedFiles } from "../../scripts/openapi-files.js";

const REPO = join(import.meta.dirname, "..", "..");
const SPEC = join(REPO, "packages", "client", "openapi.json");

describe("the OpenAPI document and the SDK's generated types", () => {
  it("are what the server generates now (run `npm run openapi` after changing a route or schema)", async () => {
    for (const [path, text] of Object.entries(await generatedFiles())) expect(readFileSync(path, "utf8"), `${path} is stale: npm run openapi`).toBe(text);
  });

  it("passes `redocly lint` (recommended ruleset) with no error and no warning", () => {
    let out: string;
    try {
      out = execFileSync(join(REPO, "node_modules", ".bin", "redocly"), ["lint", SPEC, "--format", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      throw new Error(`redocly lint failed:\n${(e as { stdout?: string }).stdout ?? ""}${(e as { stderr?: string }).stderr ?? ""}`);
    }
    const report = JSON.parse(out) as { totals: { errors: number; warnings: number }; problems: { message: string }[] };
    expect(report.problems.map((p) => p.message)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it("publishes every error code the server raises", () => {
    const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith(".ts") ? [join(dir, n)] : []));
    const raised = new Set<string>();
    const patterns = [/(?:badRequest|notFound|conflict)\(\s*"([a-z_]+)"/g, /new BerthError\(\d+, "([a-z_]+)"/g, /sendError\(reply, \d+, "([a-z_]+)"/g, /\[\d{3}, "([a-z_]+)", "/g];
    for (const f of files(join(REPO, "src", "api")).concat(files(join(REPO, "src", "sessions")), files(join(REPO, "src", "util")))) {
      const text = readFileSync(f, "utf8");
      for (const re of patterns) for (const m of text.matchAll(re)) raised.add(m[1]!);
    }
    expect(raised.size).toBeGreaterThan(20);
    // session_start_failed is a session's error (its `error` field and a session.error event), not an HTTP answer.
    raised.delete("session_start_failed");
    expect([...raised].filter((c) => !(ERROR_CODES as readonly string[]).includes(c)).sort()).toEqual([]);
  });
});
