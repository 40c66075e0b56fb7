import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/errors.js";
import { loadPoolSettings } from "../../src/sessions/pool-config.js";

const file = (text: string) => {
  const p = join(mkdtempSync(join(tmpdir(), "berth-pools-")), "pools.yaml");
  writeFileSync(p, text);
  return p;
};

describe("pool declarations", () => {
  it("reads BERTH_POOLS entries, models with colons and slashes included, and the file's", () => {
    const s = loadPoolSettings(
      {
        BERTH_POOLS: "pi:process:mock-1=2, codex:t2:openrouter/qwen/qwen3:free=1",
        BERTH_POOLS_FILE: file("refillConcurrency: 3\npools:\n  - { harness: claude, model: claude-mock, size: 1, maxIdleMs: 5000 }\n"),
        BERTH_POOL_MAX_IDLE_MS: 60_000,
      },
      "process",
    );
    expect(s.refillConcurrency).toBe(3);
    expect(s.pools).toEqual([
      { name: "claude:process:claude-mock", harness: "claude", tier: "process", model: "claude-mock", size: 1, maxIdleMs: 5000 },
      { name: "pi:process:mock-1", harness: "pi", tier: "process", model: "mock-1", size: 2, maxIdleMs: 60_000 },
      { name: "codex:container:openrouter/qwen/qwen3:free", harness: "codex", tier: "container", model: "openrouter/qwen/qwen3:free", size: 1, maxIdleMs: 60_000 },
    ]);
    expect(loadPoolSettings({}, "process")).toEqual({ pools: [], refillConcurrency: 1, refillDelayMs: 500 });
  });

  it.each([
    [{ BERTH_POOLS: "pi:process:mock-1" }, /is not harness:tier:model=size/],
    [{ BERTH_POOLS: "pi=2" }, /is not harness:tier:model=size/],
    [{ BERTH_POOLS: "pi:t9:mock-1=2" }, /tier must be a tier/],
    [{ BERTH_POOLS: "pi:process:mock-1=0" }, /size/],
    [{ BERTH_POOLS: "pi:process:mock-1=9999" }, /size/],
    [{ BERTH_POOLS: "../x:process:mock-1=1" }, /harness must be a harness id/],
    [{ BERTH_POOLS: "pi:process:mock-1=1,pi:t1:mock-1=2" }, /declared twice/],
    [{ BERTH_POOLS_FILE: "/nonexistent/pools.yaml" }, /does not exist/],
    [{ BERTH_POOLS_FILE: file("pools: [ {") }, /pools.yaml: /],
    [{ BERTH_POOLS_FILE: file("pools:\n  - { harness: pi, model: m, size: 1, image: evil }\n") }, /pools.0 /],
    [{ BERTH_POOLS_FILE: file("pool: []\n") }, /pools.yaml: /],
  ])("refuses %o with one line", (env, message) => {
    let err: unknown;
    try {
      loadPoolSettings(env, "process");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });
});
