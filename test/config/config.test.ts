import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";

describe("loadConfig", () => {
  it("reads the per-session token ceiling, and refuses a value that is not a positive integer", () => {
    expect(loadConfig({ home: "/tmp/b" }, {}).maxSessionTokens).toBeUndefined();
    expect(loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: "500000" }).maxSessionTokens).toBe(500_000);
    for (const bad of ["0", "-5", "1.5", "lots"])
      expect(() => loadConfig({ home: "/tmp/b" }, { BERTH_MAX_SESSION_TOKENS: bad })).toThrow(`BERTH_MAX_SESSION_TOKENS must be a positive integer, not '${bad}'`);
  });
});
