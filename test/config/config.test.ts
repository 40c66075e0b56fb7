import { describe, expect, it } from "vitest";
import { DEFAULT_TURN_DEADLINES, loadConfig } from "../../src/config/config.js";

describe("loadConfig", () => {
  it("reads the per-session token ceiling, and refuses a value that is not a positive integer", () => {
    expect(loadConfig({ home: "/tmp/b" }, {}).maxSessionTokens).toBeUndefined();
    expect(loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: "500000" }).maxSessionTokens).toBe(500_000);
    for (const bad of ["0", "-5", "1.5", "lots"])
      expect(() => loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: bad })).toThrow(`BERTH_MAX_SESSION_TOKENS must be a positive integer, not '${bad}'`);
  });

  it("reads turn deadlines (0 = none), defaults them, and refuses what is not whole milliseconds", () => {
    expect(loadConfig({ home: "/tmp/b" }, {}).turnDeadlines).toEqual(DEFAULT_TURN_DEADLINES);
    const env = { BERTH_TURN_TIMEOUT_MS: "60000", BERTH_TURN_IDLE_TIMEOUT_MS: "0", BERTH_TURN_FIRST_EVENT_TIMEOUT_MS: "5000" };
    expect(loadConfig({ home: "/tmp/b" }, env).turnDeadlines).toEqual({ turnMs: 60_000, idleMs: 0, firstEventMs: 5000 });
    for (const bad of ["-1", "1.5", "soon", "Infinity", "999"])
      expect(() => loadConfig({ home: "/tmp/b" }, { BERTH_TURN_IDLE_TIMEOUT_MS: bad })).toThrow(
        `BERTH_TURN_IDLE_TIMEOUT_MS must be a whole number of milliseconds, at least 1000 (0 for none), not '${bad}'`,
      );
  });
});
