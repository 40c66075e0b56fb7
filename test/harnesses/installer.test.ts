import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
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

const asRoot = process.getuid?.() === 0;

describe("HarnessInstaller", () => {
  it("installs pinned with a lockfile into a read-only tree, reuses the cache, and reinstalls an incomplete install", async () => {
    const cache = mkdtempSync(join(tmpdir(), "hcache-"));
    const progress: string[] = [];
    const inst = new HarnessInstaller(cache);
    const dir = await inst.ensure(tiny, (m) => progress.push(m));
    expect(dir).toBe(join(cache, "tiny", "7.0.0"));
    const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/is-number"]).toMatchObject({ version: "7.0.0", integrity: expect.stringMatching(/^sha512-/) });
    expect(progress[0]).toContain("is-number@7.0.0");
    const marker = readFileSync(join(dir, ".berth-install.json"), "utf8");
    // Read-only for everyone (root-owned when berth is root).
    expect(statSync(join(dir, "node_modules/is-number")).mode & 0o7777).toBe(0o555);
    expect(statSync(join(dir, "node_modules/is-number/index.js")).mode & 0o7777).toBe(0o444);
    if (process.getuid?.() === 0) expect(statSync(join(dir, "node_modules/is-number/index.js")).uid).toBe(0);
    await inst.verify(tiny);

    // Second use, even from a new installer (a new berth process): no reinstall.
    const again: string[] = [];
    expect(await new HarnessInstaller(cache).ensure(tiny, (m) => again.push(m))).toBe(dir);
    expect(again).toEqual([]);
    expect(readFileSync(join(dir, ".berth-install.json"), "utf8")).toBe(marker);
    expect(inst.list()).toEqual([expect.objectContaining({ id: "tiny", version: "7.0.0", files: expect.any(Number) })]);

    // Incomplete (no marker: an interrupted install): installed again.
    rmSync(join(dir, ".berth-install.json"));
    const fresh = new HarnessInstaller(cache);
    expect(fresh.installed(tiny)).toBeUndefined();
    await fresh.ensure(tiny);
    await fresh.verify(tiny);
    expect(fresh.check(tiny, "hashes")).toBeUndefined();

    expect(inst.remove("tiny")).toEqual(["tiny@7.0.0"]);
    expect(inst.list()).toEqual([]);
  });

  it("refuses a modified install (same-size rewrite, added file, chmod, replaced file) naming what changed, and keeps it as evidence", async () => {
    const cache = mkdtempSync(join(tmpdir(), "hcache-"));
    const inst = new HarnessInstaller(cache);
    const dir = await inst.ensure(tiny);
    const f = join(dir, "node_modules/is-number/index.js");
    const body = readFileSync(f, "utf8");
    const tamper: [string, () => void][] = [
      ["same-size rewrite", () => writeFileSync(f, body.replace("return false;", "return true!;"))],
      ["identical rewrite", () => writeFileSync(f, body)],
      ["added file", () => writeFileSync(join(dir, "node_modules/is-number/extra.js"), "x")],
      ["chmod", () => chmodSync(f, 0o666)],
      ["replaced", () => (unlinkSync(f), writeFileSync(f, body))],
    ];
    for (const [what, act] of tamper) {
      const pristine = readFileSync(join(dir, ".berth-install.json"), "utf8");
      // Root writes through the read-only modes; another user opens its own tree first (which the check sees too).
      if (!asRoot) chmodSync(join(dir, "node_modules/is-number"), 0o755);
      act();
      const again = new HarnessInstaller(cache);
      await expect(again.verify(tiny), what).rejects.toMatchObject({ code: "harness_tampered", message: expect.stringMatching(/node_modules\/is-number/) });
      // Not reinstalled over the evidence.
      expect(await again.ensure(tiny)).toBe(dir);
      expect(readFileSync(join(dir, ".berth-install.json"), "utf8")).toBe(pristine);
      expect(again.check(tiny, "stats"), what).toMatch(/changed/);
      if (["identical rewrite", "chmod", "replaced"].includes(what)) {
        // Same bytes: the full check finds nothing, and the operator may take the record afresh (read-only again).
        expect(again.check(tiny, "hashes")).toBeUndefined();
        await again.rebaseline(tiny);
        await again.verify(tiny);
        expect(statSync(f).mode & 0o7777).toBe(0o444);
        continue;
      }
      expect(again.check(tiny, "hashes"), what).toBeDefined();
      // The operator's reinstall sets it aside and installs afresh.
      const aside = again.setAside(tiny);
      expect(readdirSync(aside)).toContain("node_modules");
      await again.ensure(tiny);
      await again.verify(tiny);
    }
  });

  it("upgrades an install from an older berth (no integrity record) once by a full hash, and refuses it if the hash differs", async () => {
    const cache = mkdtempSync(join(tmpdir(), "hcache-"));
    const inst = new HarnessInstaller(cache);
    const dir = await inst.ensure(tiny);
    const markerPath = join(dir, ".berth-install.json");
    const { stats: _s, links: _l, ...old } = JSON.parse(readFileSync(markerPath, "utf8"));
    writeFileSync(markerPath, JSON.stringify(old));
    const progress: string[] = [];
    const up = new HarnessInstaller(cache);
    await expect(up.verify(tiny)).rejects.toMatchObject({ code: "harness_tampered" });
    expect(await up.ensure(tiny, (m) => progress.push(m))).toBe(dir);
    expect(progress.join()).toMatch(/by its hashes/);
    await up.verify(tiny);

    writeFileSync(markerPath, JSON.stringify(old));
    const f = join(dir, "node_modules/is-number/index.js");
    writeFileSync(f, readFileSync(f, "utf8").replace("return false;", "return true!;"));
    await expect(new HarnessInstaller(cache).ensure(tiny)).rejects.toMatchObject({ code: "harness_tampered", message: expect.stringMatching(/index\.js changed content/) });
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
