import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  buildManifest,
  contentProblem,
  firstChanged,
  firstChangedSync,
  HarnessTamperedError,
  makeReadOnly,
  recordStats,
  removeTree,
  sha256,
  type LinkEntry,
  type ManifestEntry,
  type StatEntry,
} from "./integrity.js";
import type { HarnessSpec } from "./types.js";

const run = promisify(execFile);
const MARKER = ".berth-install.json";

export class HarnessInstallError extends Error {
  readonly code = "harness_install_failed";
}

interface Marker {
  id: string;
  version: string;
  packages: { name: string; version: string }[];
  lockSha256: string;
  installedAt: string;
  files: number;
  bytes: number;
  manifest: ManifestEntry[];
  /** Absent in caches written before berth checked integrity: upgraded once, by a full hash. */
  links?: LinkEntry[];
  stats?: StatEntry[];
}

export interface InstalledHarness {
  id: string;
  version: string;
  dir: string;
  packages: { name: string; version: string }[];
  installedAt: string;
  files: number;
  bytes: number;
}

/**
 * Installs harnesses at run time from the npm registry (the vendors' own channel) into
 * `<cache>/<id>/<version>/`, pinned exactly, with npm's lockfile and integrity checks and
 * no lifecycle scripts. Nothing here is bundled with berth; the tree is mounted read-only
 * into sandboxes. The installed tree is read-only, and its manifest (integrity.ts) is
 * checked cheaply before every session runs it (verify) and fully by `check(spec, "hashes")`.
 * An incomplete install (no marker) is installed again; a modified one is refused, and kept
 * as evidence until the operator reinstalls.
 */
export class HarnessInstaller {
  private inflight = new Map<string, Promise<string>>();
  /** Parsed markers by install dir (a manifest can be megabytes), with the file identity they were read at. */
  private markers = new Map<string, { id: string; marker: Marker }>();

  constructor(
    readonly cacheDir: string,
    private env: NodeJS.ProcessEnv = process.env,
  ) {}

  dir(spec: Pick<HarnessSpec, "id" | "version">): string {
    return join(this.cacheDir, spec.id, spec.version);
  }

  private marker(dir: string): Marker | undefined {
    const file = join(dir, MARKER);
    // Re-read only when the file is another one or was written since: a session's start
    // checks the marker, and reading and parsing megabytes each time held the event loop.
    const st = statSync(file, { throwIfNoEntry: false, bigint: true });
    if (!st) return undefined;
    const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = this.markers.get(dir);
    if (hit?.id === id) return hit.marker;
    try {
      const marker = JSON.parse(readFileSync(file, "utf8")) as Marker;
      this.markers.set(dir, { id, marker });
      return marker;
    } catch {
      return undefined;
    }
  }

  /** A complete install of exactly the spec's packages, or undefined (never checked for tampering here: see verify). */
  private complete(spec: HarnessSpec): Marker | undefined {
    const m = this.marker(this.dir(spec));
    return m && spec.packages.every((p) => m.packages.some((q) => q.name === p.name && q.version === p.version)) ? m : undefined;
  }

  /** The install dir if a complete install of the spec is there. */
  installed(spec: HarnessSpec): string | undefined {
    return this.complete(spec) ? this.dir(spec) : undefined;
  }

  /**
   * What is wrong with the install, or undefined if it is intact. `stats` is the cheap
   * check (every entry's inode, size, mtime, ctime); `hashes` re-hashes every file and looks
   * for added entries instead (the content is the ground truth; the stats only stand for it).
   */
  check(spec: HarnessSpec, depth: "stats" | "hashes"): string | undefined {
    const dir = this.dir(spec);
    const m = this.complete(spec);
    if (!m) return "not installed";
    try {
      if (sha256(readFileSync(join(dir, "package-lock.json"))) !== m.lockSha256) return "package-lock.json changed";
    } catch {
      return "package-lock.json is missing";
    }
    if (depth === "hashes") return contentProblem(dir, m.manifest, m.links);
    if (!m.stats) return "the install predates integrity records";
    const changed = firstChangedSync(dir, m.stats);
    return changed ? `${changed} changed` : undefined;
  }

  /**
   * The cheap check before a session runs the install: throws HarnessTamperedError
   * naming the first changed entry. Asynchronous, so it can overlap the rest of a boot.
   */
  async verify(spec: HarnessSpec): Promise<void> {
    const dir = this.dir(spec);
    const m = this.complete(spec);
    if (!m?.stats) throw new HarnessTamperedError(`harness ${spec.id}@${spec.version} has no integrity record at ${dir}`);
    const changed = await firstChanged(dir, m.stats);
    if (changed)
      throw new HarnessTamperedError(
        `the installed harness ${spec.id}@${spec.version} was modified since it was installed (first change: ${changed} in ${dir}); berth will not run it. Inspect it, then run 'berth harness install ${spec.id} --verify' to set it aside and reinstall`,
      );
  }

  /**
   * Returns the install dir, installing first if there is no complete install (a missing
   * or interrupted one). An install from before integrity records is upgraded once, by a
   * full hash; if that finds a change, it is refused, not replaced. Concurrent callers share one run.
   */
  ensure(spec: HarnessSpec, onProgress?: (msg: string) => void): Promise<string> {
    const m = this.complete(spec);
    if (m?.stats) return Promise.resolve(this.dir(spec));
    const key = `${spec.id}@${spec.version}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = (m ? this.upgrade(spec, m, onProgress) : this.install(spec, onProgress)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Sets a modified install aside (as evidence, next to it), so the next ensure() installs afresh. Returns where it went. */
  setAside(spec: HarnessSpec): string {
    const dir = this.dir(spec);
    const to = `${dir}.tampered-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(dir, to);
    this.markers.delete(dir);
    return to;
  }

  /**
   * After a full check found the content intact: records the tree's lstat identities
   * afresh (e.g. a cache copied with new inodes), read-only again.
   */
  rebaseline(spec: HarnessSpec): Promise<string> {
    const m = this.complete(spec);
    if (!m) return Promise.reject(new Error(`${spec.id}@${spec.version} is not installed`));
    return this.upgrade(spec, m);
  }

  private async upgrade(spec: HarnessSpec, m: Marker, onProgress?: (msg: string) => void): Promise<string> {
    const dir = this.dir(spec);
    onProgress?.(`checking ${spec.id} ${spec.version} once by its hashes (an install from an older berth)`);
    const problem = this.check(spec, "hashes");
    if (problem)
      throw new HarnessTamperedError(
        `the installed harness ${spec.id}@${spec.version} differs from its manifest (${problem} in ${dir}); berth will not run it. Inspect it, then run 'berth harness install ${spec.id} --verify' to set it aside and reinstall`,
      );
    makeReadOnly(dir);
    const { links } = buildManifest(dir);
    this.writeMarker(dir, { ...m, links, stats: recordStats(dir) });
    return dir;
  }

  private writeMarker(dir: string, m: Marker): void {
    const tmp = join(dir, `${MARKER}.tmp-${process.pid}`);
    writeFileSync(tmp, JSON.stringify(m));
    renameSync(tmp, join(dir, MARKER));
  }

  list(): InstalledHarness[] {
    if (!existsSync(this.cacheDir)) return [];
    const out: InstalledHarness[] = [];
    for (const id of readdirSync(this.cacheDir)) {
      for (const version of safeReaddir(join(this.cacheDir, id))) {
        const dir = join(this.cacheDir, id, version);
        const m = this.marker(dir);
        if (m) out.push({ id, version, dir, packages: m.packages, installedAt: m.installedAt, files: m.files, bytes: m.bytes });
      }
    }
    return out;
  }

  remove(id: string, version?: string): string[] {
    const removed: string[] = [];
    for (const h of this.list()) {
      if (h.id !== id || (version && h.version !== version)) continue;
      removeTree(h.dir);
      this.markers.delete(h.dir);
      removed.push(`${h.id}@${h.version}`);
    }
    return removed;
  }

  private async install(spec: HarnessSpec, onProgress?: (msg: string) => void): Promise<string> {
    const dir = this.dir(spec);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    const deps = Object.fromEntries(spec.packages.map((p) => [p.name, p.version]));
    writeFileSync(
      join(tmp, "package.json"),
      JSON.stringify({ name: `berth-harness-${spec.id}`, private: true, dependencies: deps }, null, 2),
    );
    onProgress?.(`installing ${spec.packages.map((p) => `${p.name}@${p.version}`).join(", ")} from the npm registry`);
    try {
      // --ignore-scripts: a harness install runs no package's lifecycle scripts on the host.
      await run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev", "--loglevel=error", "--fetch-retries=1"], {
        cwd: tmp,
        timeout: 15 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...this.env, npm_config_update_notifier: "false" },
      });
    } catch (e: any) {
      rmSync(tmp, { recursive: true, force: true });
      const detail = String(e?.stderr || e?.message || e).split("\n").filter((l) => l.trim() && !l.includes("A complete log")).slice(0, 3).join(" ");
      throw new HarnessInstallError(
        `could not install harness '${spec.id}' ${spec.version} from the npm registry (is it reachable?): ${detail}`,
      );
    }
    // Hashed once, here; then read-only, and its lstat identities recorded where it will stay.
    const { manifest, links } = buildManifest(tmp);
    makeReadOnly(tmp);
    if (existsSync(dir)) removeTree(dir);
    renameSync(tmp, dir);
    const marker: Marker = {
      id: spec.id,
      version: spec.version,
      packages: spec.packages,
      lockSha256: sha256(readFileSync(join(dir, "package-lock.json"))),
      installedAt: new Date().toISOString(),
      files: manifest.length,
      bytes: manifest.reduce((n, [, size]) => n + size, 0),
      manifest,
      links,
      stats: recordStats(dir),
    };
    // The marker last: without it the install counts as incomplete, and is done again.
    this.writeMarker(dir, marker);
    onProgress?.(`installed ${spec.id} ${spec.version} (${marker.files} files, ${(marker.bytes / 1e6).toFixed(0)} MB)`);
    return dir;
  }
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d).filter((n) => !n.includes(".tmp-") && !n.includes(".tampered-"));
  } catch {
    return [];
  }
}
