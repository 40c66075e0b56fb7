import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { berthHome } from "../util/home.js";
import { newSecret } from "../util/ids.js";
import type { Tier } from "../sandboxes/types.js";
import { parseEnv, type BerthEnv } from "./env.js";
import { ConfigError } from "./errors.js";

export { ConfigError };

export interface BerthConfig {
  home: string;
  host: string;
  port: number;
  dbPath: string;
  /** This node's id among nodes on one database (BERTH_NODE_ID, `--node-id`; default the host name). */
  nodeId: string;
  harnessCache: string;
  defaultTier: Tier;
  /** T0 runs agents unsandboxed; only when the operator says so. */
  allowHostTier: boolean;
  /** Bind address of the model gateway (must be reachable from sandboxes). */
  gatewayHost: string;
  gatewayPort: number;
  /** Most tokens one session may spend (BERTH_MAX_SESSION_TOKENS): its budget when it names none, and a ceiling when it does. */
  maxSessionTokens?: number;
  /**
   * Turn deadlines in ms (BERTH_TURN_TIMEOUT_MS, BERTH_TURN_IDLE_TIMEOUT_MS,
   * BERTH_TURN_FIRST_EVENT_TIMEOUT_MS): each is a session's default and its ceiling; 0 is none.
   */
  turnDeadlines: { turnMs: number; idleMs: number; firstEventMs: number };
  /** Model calls one session may have in flight at once (BERTH_GATEWAY_MAX_CONCURRENT_CALLS); more get 429. */
  gatewayMaxConcurrentCalls: number;
  /** Largest model request body the gateway forwards (BERTH_GATEWAY_MAX_REQUEST_BYTES); larger gets 413. */
  gatewayMaxRequestBytes: number;
  /** BERTH_WORKSPACE_ROOTS: where caller-named workspaces may live (none by default). */
  workspaceRoots: string[];
  /** Directories accepted as workspaces as they are (`berth run --workspace`, named by the operator). */
  exactWorkspaces?: string[];
  /** Every variable of config/env.ts, parsed: the typed source the parts' options are sliced from. */
  env: BerthEnv;
}

/** Defaults: a turn may run 2 h, go 15 min without an event, and take 5 min to its first. */
export const DEFAULT_TURN_DEADLINES = { turnMs: 2 * 3600_000, idleMs: 15 * 60_000, firstEventMs: 5 * 60_000 };

/** The server's configuration: the environment parsed once (a bad value throws ConfigError), then overrides. */
export function loadConfig(overrides: Partial<BerthConfig> = {}, rawEnv: NodeJS.ProcessEnv = process.env): BerthConfig {
  const env = parseEnv(rawEnv);
  const home = overrides.home ? resolve(overrides.home) : berthHome(env.BERTH_HOME);
  return {
    home,
    host: env.BERTH_HOST ?? "127.0.0.1",
    port: env.PORT ?? 8765,
    dbPath: join(home, "berth.db"),
    nodeId: env.BERTH_NODE_ID ?? hostname(),
    harnessCache: env.BERTH_HARNESS_CACHE ? resolve(env.BERTH_HARNESS_CACHE) : join(home, "harnesses"),
    defaultTier: env.BERTH_DEFAULT_TIER ?? "process",
    allowHostTier: env.BERTH_ALLOW_HOST_TIER ?? false,
    gatewayHost: env.BERTH_GATEWAY_HOST ?? "127.0.0.1",
    gatewayPort: env.BERTH_GATEWAY_PORT ?? 0,
    turnDeadlines: {
      turnMs: env.BERTH_TURN_TIMEOUT_MS ?? DEFAULT_TURN_DEADLINES.turnMs,
      idleMs: env.BERTH_TURN_IDLE_TIMEOUT_MS ?? DEFAULT_TURN_DEADLINES.idleMs,
      firstEventMs: env.BERTH_TURN_FIRST_EVENT_TIMEOUT_MS ?? DEFAULT_TURN_DEADLINES.firstEventMs,
    },
    gatewayMaxConcurrentCalls: env.BERTH_GATEWAY_MAX_CONCURRENT_CALLS ?? 8,
    gatewayMaxRequestBytes: env.BERTH_GATEWAY_MAX_REQUEST_BYTES ?? 32 * 1024 * 1024,
    workspaceRoots: (env.BERTH_WORKSPACE_ROOTS ?? "").split(":").filter(Boolean),
    ...(env.BERTH_MAX_SESSION_TOKENS ? { maxSessionTokens: env.BERTH_MAX_SESSION_TOKENS } : {}),
    env,
    ...overrides,
  };
}

/** Shortest API token berth accepts from any source: a guessable or empty token is no auth. */
export const MIN_TOKEN_LENGTH = 32;

/**
 * The API token: BERTH_TOKEN if set, else the one stored (0600) in BERTH_HOME, else a
 * new one, stored. `created` tells the caller to print it, once. A missing or blank file
 * is regenerated (an empty file once meant an empty token, which matched an empty bearer);
 * a short token from either source stops the server.
 */
export function resolveApiToken(home: string, env = process.env): { token: string; created: boolean; path?: string } {
  if (env.BERTH_TOKEN !== undefined) return { token: checkToken(env.BERTH_TOKEN, "BERTH_TOKEN"), created: false };
  const path = join(home, "token");
  const stored = existsSync(path) ? readFileSync(path, "utf8").trim() : "";
  if (stored) {
    chmodSync(path, 0o600);
    return { token: checkToken(stored, path), created: false, path };
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const token = newSecret("brt_");
  writeFileSync(path, token + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, created: true, path };
}

function checkToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
    throw new ConfigError(
      `the API token from ${source} is ${/\s/.test(token) ? "not one word" : `${token.length} characters`}; use at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -base64 32), or unset it to have berth generate one`,
    );
  return token;
}
