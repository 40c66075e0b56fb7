import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_TURN_DEADLINES, loadConfig, MIN_TOKEN_LENGTH, resolveApiToken } from "../../src/config/config.js";

describe("loadConfig", () => {
  it("reads the per-session token ceiling, and refuses a value that is not a positive integer", () => {
    expect(loadConfig({ home: "/tmp/b" }, {}).maxSessionTokens).toBeUndefined();
    expect(loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: "500000" }).maxSessionTokens).toBe(500_000);
    for (const bad of ["0", "-5", "1.5", "lots"])
      expect(() => loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: bad })).toThrow(`BERTH_MAX_SESSION_TOKENS=${JSON.stringify(bad)} is not a whole number of at least 1`);
  });

  it("reads turn deadlines (0 = none), defaults them, and refuses what is not whole milliseconds", () => {
    expect(loadConfig({ home: "/tmp/b" }, {}).turnDeadlines).toEqual(DEFAULT_TURN_DEADLINES);
    const env = { BERTH_TURN_TIMEOUT_MS: "60000", BERTH_TURN_IDLE_TIMEOUT_MS: "0", BERTH_TURN_FIRST_EVENT_TIMEOUT_MS: "5000" };
    expect(loadConfig({ home: "/tmp/b" }, env).turnDeadlines).toEqual({ turnMs: 60_000, idleMs: 0, firstEventMs: 5000 });
    for (const bad of ["-1", "1.5", "soon", "Infinity", "999"])
      expect(() => loadConfig({ home: "/tmp/b" }, { BERTH_TURN_IDLE_TIMEOUT_MS: bad })).toThrow(
        `BERTH_TURN_IDLE_TIMEOUT_MS=${JSON.stringify(bad)} is not a whole number of milliseconds, at least 1000 (0 for none)`,
      );
  });
});

describe("resolveApiToken", () => {
  const home = () => mkdtempSync(join(tmpdir(), "berth-token-"));
  const long = "brt_" + "k".repeat(40);

  it("takes BERTH_TOKEN when it is long enough, and refuses a short or empty one naming the variable", () => {
    expect(resolveApiToken(home(), { BERTH_TOKEN: long })).toEqual({ token: long, created: false });
    for (const bad of ["", "short", "x".repeat(MIN_TOKEN_LENGTH - 1), `${"x".repeat(40)} y`]) {
      expect(() => resolveApiToken(home(), { BERTH_TOKEN: bad })).toThrow(ConfigError);
      expect(() => resolveApiToken(home(), { BERTH_TOKEN: bad })).toThrow(/from BERTH_TOKEN/);
    }
  });

  it("regenerates a missing, empty or blank token file, 0600", () => {
    for (const content of [undefined, "", "\n", "   \n"]) {
      const h = home();
      if (content !== undefined) writeFileSync(join(h, "token"), content, { mode: 0o644 });
      const r = resolveApiToken(h, {});
      expect(r.created).toBe(true);
      expect(r.token.length).toBeGreaterThanOrEqual(MIN_TOKEN_LENGTH);
      expect(readFileSync(join(h, "token"), "utf8").trim()).toBe(r.token);
      expect(statSync(join(h, "token")).mode & 0o777).toBe(0o600);
    }
  });

  it("keeps a good stored token (tightening its mode) and refuses a short one naming the file", () => {
    const h = home();
    writeFileSync(join(h, "token"), long + "\n", { mode: 0o644 });
    expect(resolveApiToken(h, {})).toEqual({ token: long, created: false, path: join(h, "token") });
    expect(statSync(join(h, "token")).mode & 0o777).toBe(0o600);
    writeFileSync(join(h, "token"), "abc\n");
    expect(() => resolveApiToken(h, {})).toThrow(`the API token from ${join(h, "token")} is 3 characters`);
    expect(readFileSync(join(h, "token"), "utf8")).toBe("abc\n"); // not silently replaced
  });
});
