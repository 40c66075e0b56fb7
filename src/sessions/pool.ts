import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { RequestPermissionRequest, RequestPermissionResponse, SessionUpdate } from "@agentclientprotocol/sdk";
import { ConfigError } from "../config/errors.js";
import type { ModelGateway } from "../gateway/gateway.js";
import { getHarness } from "../harnesses/registry.js";
import type { HarnessSpec } from "../harnesses/types.js";
import type { ProviderRegistry, ResolvedRoute } from "../providers/registry.js";
import { mkdirForAgent } from "../sandboxes/agent-owner.js";
import type { SandboxDrivers } from "../sandboxes/index.js";
import type { SandboxDriver } from "../sandboxes/types.js";
import type { Metrics } from "../telemetry/metrics.js";
import { newId } from "../util/ids.js";
import type { HarnessLauncher, LaunchTarget } from "./launch.js";
import type { PoolDeclaration, PoolSettings } from "./pool-config.js";
import type { SessionStore } from "./store.js";
import type { SessionRecord } from "./types.js";

/** Why a session started cold: the `reason` of `pool: miss`. */
export type PoolMissReason = "no_pool" | "workspace" | "model" | "system_prompt" | "mcp_servers" | "writable_paths" | "skills" | "empty" | "entry_failed";

/** What of a create request decides whether a pool can serve it. */
export interface PoolRequest {
  harness: string;
  tier: string;
  /** The model's upstream name after the session's route (what the harness was started with). */
  upstreamModel: string;
  callerWorkspace: boolean;
  systemPrompt?: string;
  mcpServers: unknown[];
  writablePaths: string[];
  /** Skills are mounted when the harness starts: a pooled harness has none. */
  skills?: boolean;
}

/** Where a claimed entry's events and exit go once it is a session's. */
export interface EntryHandlers {
  onUpdate(acpSessionId: string, update: SessionUpdate): void;
  onPermission(req: RequestPermissionRequest, signal: AbortSignal): Promise<RequestPermissionResponse>;
  onExit(code: number | null, signal: string | null): void;
}

/** A pre-started sandbox: harness running, ACP initialised, session/new done in a berth-made workspace. */
export interface PoolEntry extends LaunchTarget {
  readonly pool: string;
  /** The entry's session dir and workspace (renamed to the session's at the claim). */
  readonly dir: string;
  readonly workspace: string;
  agentInfo?: unknown;
  readyAt?: number;
  /** Updates the agent sent before the claim (e.g. its commands), replayed to the session. */
  early: SessionUpdate[];
  handlers?: EntryHandlers | undefined;
}

export interface WarmPoolDeps {
  settings: PoolSettings;
  home: string;
  launcher: HarnessLauncher;
  gateway: Pick<ModelGateway, "revoke">;
  store: Pick<SessionStore, "deleteSandbox">;
  drivers: SandboxDrivers;
  /** The server's provider registry: a pool's model resolves there (never through a workspace). */
  providers: ProviderRegistry;
  /** berth's own endpoints, which an entry's egress proxy must never reach. */
  ownEndpoints(): { host: string; port: number }[];
  /** Records the entry's workspace before its sandbox starts (what the agent changes later is judged against it). */
  snapshot(row: SessionRecord, dir: string): Promise<void>;
  logger: Logger;
  metrics?: Metrics;
}

interface Pool {
  decl: PoolDeclaration;
  spec: HarnessSpec;
  driver: SandboxDriver;
  route: ResolvedRoute;
  ready: PoolEntry[];
  starting: Set<PoolEntry>;
  /** Starts decided but not yet begun (they begin a macrotask later). */
  queued: number;
  /** Consecutive failed starts: the next refill waits 2^n s (at most a minute). */
  failures: number;
  retryAt: number;
}

/** How many updates an entry keeps from before its claim. */
const EARLY_UPDATES = 200;
const EXPIRY_CHECK_MS = 5_000;

/**
 * Warm pools (README "Warm pools"). Each declared harness × tier × model keeps `size`
 * entries started in the background: sandbox, harness, ACP initialize and session/new,
 * in a fresh workspace, with no tenant identity: the gateway token is unbound (refused
 * until the claim binds it), no credential or session id is in the sandbox. A create
 * request the pool can serve claims the oldest entry; the pool then refills, at most
 * `refillConcurrency` entries starting at once across all pools.
 */
export class WarmPool {
  private pools = new Map<string, Pool>();
  private active = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: WarmPoolDeps) {
    for (const decl of deps.settings.pools) {
      const spec = getHarness(decl.harness);
      if (!spec) throw new ConfigError(`pool ${decl.name}: no harness '${decl.harness}'`);
      if (decl.tier === "host") throw new ConfigError(`pool ${decl.name}: tier host cannot be pooled (its agent sees the workspace's real path, which a claim renames); use process or higher`);
      const driver = deps.drivers.forTier(decl.tier);
      if (!driver) throw new ConfigError(`pool ${decl.name}: tier '${decl.tier}' has no sandbox driver`);
      let route: ResolvedRoute;
      try {
        route = deps.providers.resolve(decl.model, { api: spec.api });
      } catch (e) {
        throw new ConfigError(`pool ${decl.name}: ${(e as Error).message}`);
      }
      this.pools.set(decl.name, { decl, spec, driver, route, ready: [], starting: new Set(), queued: 0, failures: 0, retryAt: 0 });
    }
  }

  /** Starts filling every pool, and the idle-expiry check. */
  start(): void {
    if (!this.pools.size) return;
    this.timer = setInterval(() => this.expire(), EXPIRY_CHECK_MS);
    this.timer.unref();
    this.refill();
  }

  /** Each pool's declaration and sizes (berth_pool_entries on /metrics). */
  status(): { name: string; harness: string; tier: string; model: string; size: number; ready: number; starting: number }[] {
    return [...this.pools.values()].map((p) => ({ name: p.decl.name, harness: p.decl.harness, tier: p.decl.tier, model: p.decl.model, size: p.decl.size, ready: p.ready.length, starting: p.starting.size }));
  }

  /** The entry that serves this request, taken out of its pool; or why none does. */
  claim(req: PoolRequest): { entry: PoolEntry } | { miss: PoolMissReason; pool?: string } {
    const forHarness = [...this.pools.values()].filter((p) => p.decl.harness === req.harness && p.decl.tier === req.tier);
    if (!forHarness.length) return { miss: "no_pool" };
    const miss = (m: PoolMissReason, pool?: string) => {
      this.deps.metrics?.recordPoolClaim(pool ?? forHarness[0]!.decl.name, "miss", m);
      return { miss: m, ...(pool ? { pool } : {}) };
    };
    if (req.callerWorkspace) return miss("workspace");
    if (req.systemPrompt) return miss("system_prompt");
    if (req.mcpServers.length) return miss("mcp_servers");
    if (req.writablePaths.length) return miss("writable_paths");
    if (req.skills) return miss("skills");
    const pool = forHarness.find((p) => p.route.model === req.upstreamModel);
    if (!pool) return miss("model");
    const entry = pool.ready.shift();
    if (!entry) return miss("empty", pool.decl.name);
    this.deps.metrics?.recordPoolClaim(pool.decl.name, "hit");
    // A moment later: the claimed session's first turn usually follows at once, and a
    // sandbox starting beside it (a second or two of CPU) would slow it.
    setTimeout(() => this.refill(), this.deps.settings.refillDelayMs).unref();
    return { entry };
  }

  /**
   * A claimed entry's workspace and session directory take the session's names (the sandbox
   * binds them by inode: nothing changes inside it). On failure the entry is ended, the
   * session's own empty workspace is back, and false says the session must start cold.
   */
  handOver(entry: PoolEntry, workspace: string, sessionDir: string): boolean {
    try {
      rmdirSync(workspace); // the session's own, empty: the entry's takes its place
      renameSync(entry.workspace, workspace);
      renameSync(entry.dir, sessionDir);
      return true;
    } catch (e) {
      this.deps.logger.error({ pool: entry.pool, entry: entry.id, err: (e as Error).message }, "could not hand a pool entry's directories over to its session; the session starts cold");
      if (!existsSync(workspace)) mkdirForAgent(workspace, 0o755);
      this.discard(entry);
      return false;
    }
  }

  /** An entry a claim could not use (e.g. its directories could not be renamed): ended like an expired one. */
  discard(entry: PoolEntry): void {
    entry.handlers = undefined;
    const pool = this.pools.get(entry.pool);
    if (pool) this.drop(pool, entry);
    else void this.end(entry);
  }

  /** Stops refilling and ends every entry, started or starting. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const all = [...this.pools.values()].flatMap((p) => [...p.ready.splice(0), ...p.starting]);
    await Promise.all(all.map((e) => this.end(e)));
    // A start still in flight ends its own entry once it sees the pool stopped.
    await Promise.all([...this.inFlight]);
  }

  private refill(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const pool of this.pools.values()) {
      while (this.active < this.deps.settings.refillConcurrency && this.count(pool) < pool.decl.size && now >= pool.retryAt) {
        this.active++;
        pool.queued++;
        // A macrotask later: a claim's refill must not run its launch's synchronous steps before the claim's response is sent.
        const p: Promise<void> = new Promise<void>((r) => setImmediate(r))
          .then(() => {
            pool.queued--;
            return this.startEntry(pool);
          })
          .finally(() => {
            this.active--;
            this.inFlight.delete(p);
            this.refill();
          });
        this.inFlight.add(p);
      }
    }
    // A pool waiting out a failure is looked at again when its wait is over.
    const next = Math.min(...[...this.pools.values()].filter((p) => p.retryAt > now && this.count(p) < p.decl.size).map((p) => p.retryAt));
    if (Number.isFinite(next)) setTimeout(() => this.refill(), next - now).unref();
  }

  /** Entries a pool has or is getting. */
  private count(pool: Pool): number {
    return pool.ready.length + pool.starting.size + pool.queued;
  }

  private async startEntry(pool: Pool): Promise<void> {
    if (this.stopped) return;
    const id = newId("pool");
    const dir = join(this.deps.home, "sessions", id);
    const workspace = join(this.deps.home, "workspaces", id);
    mkdirForAgent(workspace, 0o755);
    const entry: PoolEntry = { id, pool: pool.decl.name, dir, workspace, spec: pool.spec, driver: pool.driver, route: pool.route, ending: false, early: [] };
    pool.starting.add(entry);
    // The launch's view of the entry: a session that has asked for nothing.
    const now = new Date().toISOString();
    const row: SessionRecord = {
      id,
      harness: pool.spec.id,
      harnessVersion: pool.spec.version,
      model: pool.decl.model,
      tier: pool.decl.tier,
      workspace,
      ownsWorkspace: true,
      state: "starting",
      settings: { permissionPolicy: "allow", permissionTimeoutMs: 0, mcpServers: [] },
      acpSessionId: null,
      error: null,
      createdAt: now,
      updatedAt: now,
    };
    try {
      const launched = await this.deps.launcher.launch(entry, row, false, dir, {
        status: () => {},
        ownEndpoints: () => this.deps.ownEndpoints(),
        beforeSandbox: () => this.deps.snapshot(row, dir),
        onUpdate: (acpId, u) => {
          if (entry.handlers) return entry.handlers.onUpdate(acpId, u);
          if (entry.early.length < EARLY_UPDATES) entry.early.push(u);
        },
        // No turn runs before the claim: nothing may be allowed on nobody's behalf.
        onPermission: (req, signal) => (entry.handlers ? entry.handlers.onPermission(req, signal) : Promise.resolve({ outcome: { outcome: "cancelled" } })),
        onExit: (code, signal) => {
          if (entry.handlers) return entry.handlers.onExit(code, signal);
          if (entry.ending) return;
          this.deps.logger.warn({ pool: pool.decl.name, entry: id, code, signal, stderr: entry.agent?.stderr.slice(-400) }, "pooled harness exited before a claim");
          this.drop(pool, entry);
        },
      });
      if (!launched || entry.ending || this.stopped) throw new Error("pool stopped");
      entry.agentInfo = launched.agentInfo;
      entry.readyAt = Date.now();
      pool.starting.delete(entry);
      pool.ready.push(entry);
      pool.failures = 0;
      this.deps.logger.debug({ pool: pool.decl.name, entry: id, ms: entry.readyAt - Date.parse(now) }, "pool entry ready");
    } catch (e) {
      pool.starting.delete(entry);
      if (!this.stopped && !entry.ending) {
        pool.failures++;
        pool.retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** (pool.failures - 1));
        this.deps.logger.error({ pool: pool.decl.name, err: (e as Error).message, stderr: entry.agent?.stderr.slice(-400) }, "pool entry failed to start");
      }
      await this.end(entry);
    }
  }

  /** Entries idle longer than their pool allows are replaced. */
  private expire(): void {
    const now = Date.now();
    for (const pool of this.pools.values()) {
      if (!pool.decl.maxIdleMs) continue;
      for (const e of pool.ready.filter((x) => now - x.readyAt! > pool.decl.maxIdleMs)) {
        this.deps.logger.info({ pool: pool.decl.name, entry: e.id }, "pool entry idle too long: replaced");
        this.drop(pool, e);
      }
    }
  }

  private drop(pool: Pool, entry: PoolEntry): void {
    pool.ready = pool.ready.filter((e) => e !== entry);
    pool.starting.delete(entry);
    void this.end(entry).finally(() => this.refill());
  }

  /** Stops an unclaimed entry: its token, harness, sandbox, proxy, row and directories. */
  private async end(entry: PoolEntry): Promise<void> {
    if (entry.handlers) return;
    entry.ending = true;
    this.deps.gateway.revoke(entry.id);
    entry.agent?.close();
    await entry.proc?.kill();
    await entry.egress?.close();
    if (entry.sandboxRowId) await this.deps.store.deleteSandbox(entry.sandboxRowId);
    rmSync(entry.dir, { recursive: true, force: true });
    rmSync(entry.workspace, { recursive: true, force: true });
  }
}

/** Entry directories a crashed berth left (their sandboxes are reaped through the store's rows); `only`: just these entries (a node on a shared home sweeps its own). */
export function removePoolLeftovers(home: string, only?: ReadonlySet<string>): number {
  let n = 0;
  for (const sub of ["sessions", "workspaces"]) {
    const root = join(home, sub);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      if (!/^pool_[0-9a-z]+$/.test(name) || (only && !only.has(name))) continue;
      rmSync(join(root, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}
