import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { newSecret } from "../util/ids.js";
import type { Tier } from "../sandboxes/types.js";

export interface BerthConfig {
  home: string;
  host: string;
  port: number;
  dbPath: string;
  harnessCache: string;
  defaultTier: Tier;
  /** T0 runs agents unsandboxed; only when the operator says so. */
  allowHostTier: boolean;
  /** Bind address of the model gateway (must be reachable from sandboxes). */
  gatewayHost: string;
  gatewayPort: number;
  /** Most tokens one session may spend (BERTH_MAX_SESSION_TOKENS): its budget when it names none, and a ceiling when it does. */
  maxSessionTokens?: number;
  /** BERTH_WORKSPACE_ROOTS: where caller-named workspaces may live (none by default). */
  workspaceRoots: string[];
  /** Directories accepted as workspaces as they are (`berth run --workspace`, named by the operator). */
  exactWorkspaces?: string[];
}

export function loadConfig(overrides: Partial<BerthConfig> = {}, env = process.env): BerthConfig {
  // root runs berth as a system service: its state goes where uid 1000 (the agent) can
  // walk to the parts mounted into sandboxes; /root is closed to it.
  const fallback = process.getuid?.() === 0 ? "/var/lib/berth" : join(homedir(), ".berth");
  const home = resolve(overrides.home ?? env.BERTH_HOME ?? fallback);
  return {
    home,
    host: env.BERTH_HOST ?? "127.0.0.1",
    port: env.PORT ? Number(env.PORT) : 8765,
    dbPath: join(home, "berth.db"),
    harnessCache: env.BERTH_HARNESS_CACHE ? resolve(env.BERTH_HARNESS_CACHE) : join(home, "harnesses"),
    defaultTier: (env.BERTH_DEFAULT_TIER as Tier | undefined) ?? "process",
    allowHostTier: env.BERTH_ALLOW_HOST_TIER === "1" || env.BERTH_ALLOW_HOST_TIER === "true",
    gatewayHost: env.BERTH_GATEWAY_HOST ?? "127.0.0.1",
    gatewayPort: env.BERTH_GATEWAY_PORT ? Number(env.BERTH_GATEWAY_PORT) : 0,
    workspaceRoots: (env.BERTH_WORKSPACE_ROOTS ?? "").split(":").filter(Boolean),
    ...(env.BERTH_MAX_SESSION_TOKENS ? { maxSessionTokens: positiveInt("BERTH_MAX_SESSION_TOKENS", env.BERTH_MAX_SESSION_TOKENS) } : {}),
    ...overrides,
  };
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not '${raw}'`);
  return n;
}

/**
 * The API token: BERTH_TOKEN if set, else the one stored (0600) in BERTH_HOME, else a
 * new one, stored. `created` tells the caller to print it, once.
 */
export function resolveApiToken(home: string, env = process.env): { token: string; created: boolean; path?: string } {
  if (env.BERTH_TOKEN) return { token: env.BERTH_TOKEN, created: false };
  const path = join(home, "token");
  if (existsSync(path)) return { token: readFileSync(path, "utf8").trim(), created: false, path };
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const token = newSecret("brt_");
  writeFileSync(path, token + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, created: true, path };
}
