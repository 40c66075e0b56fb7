import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
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
}

/**
 * Installs harnesses at run time from the npm registry (the vendors' own channel) into
 * `<cache>/<id>/<version>/`, pinned exactly, with npm's lockfile and integrity checks.
 * Nothing here is bundled with berth; the tree is later mounted read-only into sandboxes.
 */
export class HarnessInstaller {
  private inflight = new Map<string, Promise<string>>();

  constructor(readonly cacheDir: string) {}

  dir(spec: HarnessSpec): string {
    return join(this.cacheDir, spec.id, spec.version);
  }

  /** The install dir if a complete, matching install is there. */
  installed(spec: HarnessSpec): string | undefined {
    const dir = this.dir(spec);
    try {
      const m = JSON.parse(readFileSync(join(dir, MARKER), "utf8")) as Marker;
      const lock = readFileSync(join(dir, "package-lock.json"));
      if (m.lockSha256 !== sha256(lock)) return undefined;
      for (const p of spec.packages) {
        const pj = JSON.parse(readFileSync(join(dir, "node_modules", p.name, "package.json"), "utf8"));
        if (pj.version !== p.version) return undefined;
      }
      return dir;
    } catch {
      return undefined;
    }
  }

  /** Returns the install dir, installing first if needed. Concurrent callers share one install. */
  ensure(spec: HarnessSpec, onProgress?: (msg: string) => void): Promise<string> {
    const done = this.installed(spec);
    if (done) return Promise.resolve(done);
    const key = `${spec.id}@${spec.version}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.install(spec, onProgress).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
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
      await run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev", "--loglevel=error"], {
        cwd: tmp,
        timeout: 15 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, npm_config_update_notifier: "false" },
      });
    } catch (e: any) {
      rmSync(tmp, { recursive: true, force: true });
      const detail = String(e?.stderr || e?.message || e).split("\n").filter(Boolean).slice(-3).join(" ");
      throw new HarnessInstallError(
        `could not install harness '${spec.id}' ${spec.version} from the npm registry (is it reachable?): ${detail}`,
      );
    }
    const marker: Marker = {
      id: spec.id,
      version: spec.version,
      packages: spec.packages,
      lockSha256: sha256(readFileSync(join(tmp, "package-lock.json"))),
      installedAt: new Date().toISOString(),
    };
    writeFileSync(join(tmp, MARKER), JSON.stringify(marker, null, 2));
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    onProgress?.(`installed ${spec.id} ${spec.version}`);
    return dir;
  }
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
