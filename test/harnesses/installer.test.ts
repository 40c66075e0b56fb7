import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HarnessInstaller } from "../../src/harnesses/installer.js";
import type { HarnessSpec } from "../../src/harnesses/types.js";

// A real install from the npm registry of a tiny package standing in for a harness.
const tiny: HarnessSpec = {
  id: "tiny",
  name: "tiny",
  version: "7.0.0",
  packages: [{ name: "is-number", version: "7.0.0" }],
  license: "MIT",
  redistributable: true,
  asksPermission: false,
  api: "anthropic-messages",
  authMethods: [],
  launch: () => ({ command: [], env: {}, homeFiles: [] }),
};

describe("HarnessInstaller", () => {
  it("installs pinned with a lockfile, reuses the cache, and reinstalls a damaged tree", async () => {
    const cache = mkdtempSync(join(tmpdir(), "hcache-"));
    const progress: string[] = [];
    const inst = new HarnessInstaller(cache);
    const dir = await inst.ensure(tiny, (m) => progress.push(m));
    expect(dir).toBe(join(cache, "tiny", "7.0.0"));
    const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/is-number"]).toMatchObject({ version: "7.0.0", integrity: expect.stringMatching(/^sha512-/) });
    expect(progress[0]).toContain("is-number@7.0.0");
    const marker = readFileSync(join(dir, ".berth-install.json"), "utf8");

    // Second use, even from a new installer (a new berth process): no reinstall.
    const again: string[] = [];
    expect(await new HarnessInstaller(cache).ensure(tiny, (m) => again.push(m))).toBe(dir);
    expect(again).toEqual([]);
    expect(readFileSync(join(dir, ".berth-install.json"), "utf8")).toBe(marker);
    expect(inst.list()).toEqual([expect.objectContaining({ id: "tiny", version: "7.0.0", files: expect.any(Number) })]);

    // Damage it: a fresh process notices by size, and reinstalls.
    truncateSync(join(dir, "node_modules/is-number/index.js"), 3);
    const fresh = new HarnessInstaller(cache);
    expect(fresh.installed(tiny)).toBeUndefined();
    const repaired: string[] = [];
    await fresh.ensure(tiny, (m) => repaired.push(m));
    expect(repaired[0]).toMatch(/damaged .*index\.js changed size/);
    expect(fresh.check(tiny, "hashes")).toBeUndefined();

    // Same size, different bytes: only the full hash check sees it.
    const f = join(dir, "node_modules/is-number/index.js");
    const body = readFileSync(f, "utf8");
    writeFileSync(f, body.replace("return false;", "return true!;"));
    expect(readFileSync(f, "utf8")).not.toBe(body);
    expect(new HarnessInstaller(cache).check(tiny, "sizes")).toBeUndefined();
    expect(new HarnessInstaller(cache).check(tiny, "hashes")).toMatch(/changed content/);

    expect(inst.remove("tiny")).toEqual(["tiny@7.0.0"]);
    expect(inst.list()).toEqual([]);
  });

  it("says clearly when the registry cannot be reached", async () => {
    const cache = mkdtempSync(join(tmpdir(), "hcache-"));
    const inst = new HarnessInstaller(cache, { ...process.env, npm_config_registry: "http://127.0.0.1:9/", npm_config_cache: mkdtempSync(join(tmpdir(), "npmc-")) });
    await expect(inst.ensure(tiny)).rejects.toMatchObject({
      code: "harness_install_failed",
      message: expect.stringMatching(/could not install harness 'tiny' 7\.0\.0 from the npm registry/),
    });
    expect(inst.list()).toEqual([]);
  });
});
