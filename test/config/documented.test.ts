import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

// Names berth sets for the sandbox, not settings an operator gives it.
const FOR_THE_SANDBOX = new Set(["BERTH_SESSION_ID", "BERTH_GATEWAY_TOKEN", "BERTH_GATEWAY_URL"]);

describe("configuration", () => {
  it("every BERTH_* variable berth reads is documented in the README or docs/ (in backquotes)", () => {
    const docs = [readFileSync(join(REPO, "README.md"), "utf8"), ...readdirSync(join(REPO, "docs")).map((f) => readFileSync(join(REPO, "docs", f), "utf8"))].join("\n");
    const read = new Set<string>();
    for (const file of sources(join(REPO, "src"))) {
      const text = readFileSync(file, "utf8");
      // env.BERTH_X, env["BERTH_X"], and names handed to a parser as strings ("BERTH_X").
      for (const m of text.matchAll(/\benv(?:\.|\[")(BERTH_[A-Z0-9_]+)|"(BERTH_[A-Z0-9_]*[A-Z0-9])"/g)) read.add((m[1] ?? m[2])!);
    }
    expect(read.size).toBeGreaterThan(30);
    const missing = [...read].filter((v) => !FOR_THE_SANDBOX.has(v) && !docs.includes(`\`${v}\``) && !docs.includes(`\`${v}=`)).sort();
    expect(missing, "document these in the README's configuration table").toEqual([]);
  });
});
