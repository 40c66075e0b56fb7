import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import type { HarnessSpec } from "./types.js";

const run = promisify(execFile);
const MARKER = ".berth-install.json";

export class HarnessInstallError extends Error {
  readonly code = "harness_install_failed";
}

/** One file of an install: path (relative), size, sha256. */
type ManifestEntry = [string, number, string];

interface Marker {
  id: string;
  version: string;
  packages: { name: string; version: string }[];
  lockSha256: string;
  installedAt: string;
  files: number;
  bytes: number;
  manifest: ManifestEntry[];
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
 * into sandboxes. A manifest (size + sha256 per file) written at install time catches a
 * corrupted tree: sizes are checked on first use in each berth process, hashes by `verify`.
 */
export class HarnessInstaller {
  private inflight = new Map<string, Promise<string>>();
  /** Installs already checked by this process (dir → marker mtime). */
  private checked = new Map<string, number>();

  constructor(
    readonly cacheDir: string,
    private env: NodeJS.ProcessEnv = process.env,
  ) {}

  dir(spec: Pick<HarnessSpec, "id" | "version">): string {
    return join(this.cacheDir, spec.id, spec.version);
  }

  private marker(dir: string): Marker | undefined {
    try {
      return JSON.parse(readFileSync(join(dir, MARKER), "utf8")) as Marker;
    } catch {
      return undefined;
    }
  }

  /** The install dir if a complete, matching, intact install is there. */
  installed(spec: HarnessSpec): string | undefined {
    const dir = this.dir(spec);
    const markerPath = join(dir, MARKER);
    const mtime = existsSync(markerPath) ? statSync(markerPath).mtimeMs : -1;
    if (this.checked.get(dir) === mtime) return dir;
    const problem = this.check(spec, "sizes");
    if (problem) return undefined;
    this.checked.set(dir, mtime);
    return dir;
  }

  /**
   * What is wrong with the install, or undefined if it is intact. `sizes` compares every
   * file's presence and size with the manifest (cheap); `hashes` also re-hashes them.
   */
  check(spec: HarnessSpec, depth: "sizes" | "hashes"): string | undefined {
    const dir = this.dir(spec);
    const m = this.marker(dir);
    if (!m) return "not installed";
    for (const p of spec.packages)
      if (!m.packages.some((q) => q.name === p.name && q.version === p.version)) return `${p.name}@${p.version} is not in this install`;
    try {
      if (sha256(readFileSync(join(dir, "package-lock.json"))) !== m.lockSha256) return "package-lock.json changed";
      for (const [rel, size, hash] of m.manifest) {
        const st = lstatSync(join(dir, rel));
        if (st.size !== size) return `${rel} changed size`;
        if (depth === "hashes" && sha256(readFileSync(join(dir, rel))) !== hash) return `${rel} changed content`;
      }
    } catch (e) {
      return `missing file: ${(e as Error).message}`;
    }
    return undefined;
  }

  /** Returns the install dir, installing first if needed. Concurrent callers share one install. */
  ensure(spec: HarnessSpec, onProgress?: (msg: string) => void): Promise<string> {
    const done = this.installed(spec);
    if (done) return Promise.resolve(done);
    const key = `${spec.id}@${spec.version}`;
    let p = this.inflight.get(key);
    if (!p) {
      const why = this.check(spec, "sizes");
      if (why !== "not installed") onProgress?.(`reinstalling ${key}: the cached install is damaged (${why})`);
      p = this.install(spec, onProgress).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
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
      rmSync(h.dir, { recursive: true, force: true });
      this.checked.delete(h.dir);
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
    const manifest = buildManifest(tmp);
    const marker: Marker = {
      id: spec.id,
      version: spec.version,
      packages: spec.packages,
      lockSha256: sha256(readFileSync(join(tmp, "package-lock.json"))),
      installedAt: new Date().toISOString(),
      files: manifest.length,
      bytes: manifest.reduce((n, [, size]) => n + size, 0),
      manifest,
    };
    writeFileSync(join(tmp, MARKER), JSON.stringify(marker));
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    this.checked.delete(dir);
    onProgress?.(`installed ${spec.id} ${spec.version} (${marker.files} files, ${(marker.bytes / 1e6).toFixed(0)} MB)`);
    return dir;
  }
}

function buildManifest(root: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const buf = readFileSync(p);
        out.push([relative(root, p), buf.length, sha256(buf)]);
      }
    }
  };
  walk(join(root, "node_modules"));
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d).filter((n) => !n.includes(".tmp-"));
  } catch {
    return [];
  }
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
