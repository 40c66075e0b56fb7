import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HARNESS_CACHE, REPO, startBerth } from "../helpers.js";

// Attack: an empty or short API token makes the API open (an empty token file once matched
// an empty bearer). berth must refuse to start on a short token and regenerate an empty file.

/** `berth serve` that is expected to refuse to start: its exit code and stderr. */
function serveRefused(home: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "serve", "--port", "0"], {
    env: { PATH: process.env.PATH!, BERTH_HOME: home, BERTH_HARNESS_CACHE: HARNESS_CACHE, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe("API token", () => {
  it("an empty token file is regenerated (0600), and an empty or wrong bearer is refused", async () => {
    const home = mkdtempSync(join(tmpdir(), "berth-sec-token-"));
    writeFileSync(join(home, "token"), "", { mode: 0o644 });
    const srv = await startBerth({ home, env: { BERTH_TOKEN: undefined } });
    try {
      const token = readFileSync(join(home, "token"), "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(statSync(join(home, "token")).mode & 0o777).toBe(0o600);
      for (const authorization of [undefined, "", "Bearer", "Bearer ", "Bearer \t", "Basic Og==", `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`]) {
        const res = await fetch(`${srv.url}/v1/sessions`, { headers: authorization === undefined ? {} : { authorization } });
        expect(res.status, `authorization: ${JSON.stringify(authorization)}`).toBe(401);
        expect(((await res.json()) as any).error.code).toBe("unauthorized");
      }
      const ok = await fetch(`${srv.url}/v1/sessions`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
    } finally {
      await srv.stop();
    }
  });

  const refusals: [string, (home: string) => Record<string, string>, RegExp][] = [
    ["an empty BERTH_TOKEN", () => ({ BERTH_TOKEN: "" }), /from BERTH_TOKEN is 0 characters/],
    ["a short BERTH_TOKEN", () => ({ BERTH_TOKEN: "x".repeat(31) }), /from BERTH_TOKEN is 31 characters/],
    ["a BERTH_TOKEN with a space", () => ({ BERTH_TOKEN: "x".repeat(20) + " " + "y".repeat(20) }), /from BERTH_TOKEN is not one word/],
    [
      "a short token file",
      (home) => {
        writeFileSync(join(home, "token"), "hunter2\n");
        return {};
      },
      /from .*\/token is 7 characters/,
    ],
  ];
  for (const [name, setup, message] of refusals) {
    it(`refuses to start with ${name}: one line, exit 2, nothing created`, () => {
      const home = mkdtempSync(join(tmpdir(), "berth-sec-token-"));
      const env = setup(home);
      const before = readdirSync(home).sort();
      const r = serveRefused(home, env);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^berth: /);
      if (env.BERTH_TOKEN) expect(r.stderr).not.toContain(env.BERTH_TOKEN.trim());
      expect(r.stderr).not.toContain("hunter2");
      expect(readdirSync(home).sort()).toEqual(before);
    });
  }
});
