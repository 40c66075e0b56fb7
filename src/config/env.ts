// Every environment variable berth's server reads as configuration, in one schema: its type,
// its default, what it does. `parseEnv` checks them all once, at start, so a bad value stops
// the server with one line naming it instead of surfacing later inside a session. The
// README's configuration table is checked against this list (test/config/documented.test.ts).
//
// Not here, on purpose: the standard OTEL_* variables (read by the tracing setup per the
// OpenTelemetry spec), provider secrets such as ANTHROPIC_API_KEY (looked up by name from a
// providers file), and the variables berth sets for a sandbox (BERTH_SESSION_ID or
// BERTH_POOL_ENTRY, BERTH_GATEWAY_URL, BERTH_GATEWAY_TOKEN, which the in-sandbox git helper
// reads, and BERTH_RELAY_FORWARDS, which the relay reads).
import { z } from "zod";
import { TIERS, parseTier, type Tier } from "../sandboxes/types.js";
import { ConfigError } from "./errors.js";

interface Variable<T> {
  /** What it sets, for the README's table. */
  doc: string;
  /** The default as the README shows it (a value, or a sentence when it is computed). */
  shown: string;
  /** Parses a set, non-empty value; an issue's message completes "NAME=value is not …". */
  schema: z.ZodType<T, string>;
  /** The value may hold a secret (a database URL's password): an error never echoes it. */
  secret?: boolean;
}

function variable<T>(schema: z.ZodType<T, string>, shown: string, doc: string, secret = false): Variable<T> {
  return { schema, shown, doc, ...(secret ? { secret } : {}) };
}

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, `a whole number of at least ${min}`)
    .transform(Number)
    .pipe(z.number().min(min, `a whole number of at least ${min}`).max(max, `a whole number of at most ${max}`));

/** Milliseconds: 0 for none, else at least a second. */
const millis = z
  .string()
  .regex(/^\d+$/, "a whole number of milliseconds, at least 1000 (0 for none)")
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && (n === 0 || n >= 1000), "a whole number of milliseconds, at least 1000 (0 for none)");

const flag = z
  .enum(["1", "0", "true", "false", "on", "off", "yes", "no"], "1 or 0 (also true/false, on/off, yes/no)")
  .transform((v) => ["1", "true", "on", "yes"].includes(v));

const onOff = z.enum(["on", "off"], "on or off");

const cpus = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "a number of CPUs (e.g. 1 or 0.5, at least 0.01)")
  .transform(Number)
  .refine((n) => n >= 0.01 && n <= 100_000, "a number of CPUs (e.g. 1 or 0.5, at least 0.01)");

/** Days, fractions allowed (0.5 is twelve hours; 0.00002, about two seconds, for tests). */
const days = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "a number of days (e.g. 30, or 0.5), at least 0.00001")
  .transform(Number)
  .refine((n) => n >= 0.00001 && n <= 36_500, "a number of days (e.g. 30, or 0.5), at least 0.00001");

/** "2g", "512m", "1073741824" → bytes. */
export function parseBytes(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.round(Number(m[1]) * mult);
}

const size = z
  .string()
  .regex(/^\s*\d+(\.\d+)?\s*[kmgt]?i?b?\s*$/i, "a size (bytes, or e.g. 512m, 2g)")
  .transform(parseBytes)
  .refine((n) => n >= 1, "a size (bytes, or e.g. 512m, 2g)");

const tier = z.string().transform((v, ctx): Tier => {
  const t = parseTier(v);
  if (!t) ctx.addIssue({ code: "custom", message: `a tier: ${TIERS.join(", ")} (or t0-t4)` });
  return t ?? "process";
});

const text = z.string();
const port = wholeNumber(0, 65535);
const url = z.url("a URL");
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/./, "a PostgreSQL URL (postgres://user:password@host:5432/db)")
  .refine((v) => URL.canParse(v), "a PostgreSQL URL (postgres://user:password@host:5432/db)");

/** A node id: what other nodes and `berth db status` call this node. */
const nodeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "a node id: letters, digits, '.', '_' or '-', at most 63");

const pinoLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "a log level: fatal, error, warn, info, debug, trace or silent");

export const ENV = {
  BERTH_HOME: variable(text, "`~/.berth`; `/var/lib/berth` for root", "database, token, session homes, workspaces, harness cache"),
  PORT: variable(port, "8765", "API port (`--port`)"),
  BERTH_HOST: variable(text, "127.0.0.1", "API address (`--host`)"),
  BERTH_TOKEN: variable(text, "generated", "API token (at least 32 characters)"),
  BERTH_ALLOWED_HOSTS: variable(text, "unset", "extra `Host` names the API answers (comma-separated, `*.suffix` allowed)"),
  BERTH_PUBLIC_URL: variable(url, "unset", "the API's URL behind a proxy"),
  BERTH_HTTP_HEADERS_TIMEOUT_MS: variable(wholeNumber(1), "10000", "longest a request's headers may take"),
  BERTH_HTTP_REQUEST_TIMEOUT_MS: variable(wholeNumber(1), "30000", "longest a whole request may take"),
  BERTH_HTTP_KEEPALIVE_TIMEOUT_MS: variable(wholeNumber(1), "5000", "longest an idle keep-alive socket stays open"),
  BERTH_HTTP_MAX_CONNECTIONS: variable(wholeNumber(1), "1000", "open API sockets"),
  BERTH_PROVIDERS: variable(text, "unset", "a providers file, searched first"),
  BERTH_ALLOW_WORKSPACE_PROVIDERS: variable(flag, "off", "read a workspace's `.berth/providers.yaml`"),
  BERTH_MODEL: variable(text, "`mock-1` without keys", "default model"),
  BERTH_MOCK_SCRIPT: variable(text, "built-in", "script for the embedded mock model"),
  BERTH_HARNESS_CACHE: variable(text, "`$BERTH_HOME/harnesses`", "where harnesses are installed at run time"),
  BERTH_WORKSPACE_ROOTS: variable(text, "empty: no caller-named workspace", "colon-separated directories under which an API caller may name a workspace"),
  BERTH_DEFAULT_TIER: variable(tier, "`process`", "tier when a session names none"),
  BERTH_ALLOW_HOST_TIER: variable(flag, "off", "allow tier `host`"),
  BERTH_MAX_SESSION_TOKENS: variable(wholeNumber(1), "unset", "token budget of a session that names none, and the most one may ask for"),
  BERTH_TURN_TIMEOUT_MS: variable(millis, "`7200000`", "longest a turn may run"),
  BERTH_TURN_IDLE_TIMEOUT_MS: variable(millis, "`900000`", "longest a turn may go without an event"),
  BERTH_TURN_FIRST_EVENT_TIMEOUT_MS: variable(millis, "`300000`", "longest a turn may wait for its first event"),
  BERTH_MAX_CONCURRENT_STARTS: variable(wholeNumber(0), "twice the CPUs", "sandboxes starting at once (0: no limit); more wait their turn"),
  BERTH_TURN_SNAPSHOTS: variable(flag, "on", "snapshot the workspace at each turn's start and end, for its diff and workspace.changed (off: no snapshots)"),
  BERTH_RETENTION_DAYS: variable(
    days,
    "unset: kept",
    "sessions ended, failed or interrupted this long ago (by their last change) are deleted with their events, turns, home, snapshots and berth-made workspace; never a caller's workspace",
  ),
  BERTH_IDLE_GC_MS: variable(wholeNumber(0), "`10000`", "one full garbage collection this long after the last live session ends (0: leave it to V8)"),
  BERTH_SKILLS_DIR: variable(text, "unset", "the operator's Agent Skills (one folder with a SKILL.md each), which sessions name in `skills`"),
  BERTH_MAX_UPLOAD_BYTES: variable(wholeNumber(1), "`1073741824` (1 GiB)", "most bytes of file content one upload (a file, or an archive uncompressed) may hold"),
  BERTH_MAX_UPLOAD_ENTRIES: variable(wholeNumber(1), "`100000`", "most entries an uploaded archive may hold"),
  BERTH_POOLS: variable(text, "unset", "warm pools, `harness:tier:model=size` comma-separated (README \"Warm pools\")"),
  BERTH_POOLS_FILE: variable(text, "unset", "warm pools as a YAML file (README \"Warm pools\")"),
  BERTH_POOL_MAX_IDLE_MS: variable(wholeNumber(0), "`1800000`", "a pooled entry idle this long is replaced (0: never)"),
  BERTH_POOL_REFILL_DELAY_MS: variable(wholeNumber(0, 600_000), "`500`", "how long after a claim its pool starts the replacement"),
  BERTH_POOL_REFILL_CONCURRENCY: variable(wholeNumber(1, 64), "1", "pooled entries started at once, across all pools"),
  BERTH_GATEWAY_HOST: variable(text, "127.0.0.1", "the model gateway's TCP address"),
  BERTH_GATEWAY_PORT: variable(port, "a free port", "the model gateway's TCP port"),
  BERTH_GATEWAY_MAX_CONCURRENT_CALLS: variable(wholeNumber(1), "8", "model calls one session may have in flight"),
  BERTH_GATEWAY_MAX_REQUEST_BYTES: variable(wholeNumber(1), "33554432 (32 MiB)", "largest model request body the gateway forwards"),
  BERTH_DOCKER_HOST: variable(text, "`unix:///run/berth/podman.sock`", "engine API for the container tiers (else `DOCKER_HOST`)"),
  DOCKER_HOST: variable(text, "`unix:///run/berth/podman.sock`", "engine API when `BERTH_DOCKER_HOST` is unset"),
  BERTH_T1_MAX_PROCS: variable(wholeNumber(1), "2048", "tasks per T1 sandbox"),
  BERTH_T1_MAX_MEMORY_BYTES: variable(wholeNumber(1), "4 GiB", "memory (+swap) per T1 sandbox"),
  BERTH_T1_CPUS: variable(cpus, "no quota", "CPUs per T1 sandbox"),
  BERTH_T1_MAX_FILES: variable(wholeNumber(1), "4096", "open files per T1 process"),
  BERTH_T1_MAX_FILE_BYTES: variable(wholeNumber(1), "4 GiB", "largest file a T1 process may write"),
  BERTH_T1_MAX_CPU_SECONDS: variable(wholeNumber(1), "4 h", "CPU time per T1 process"),
  BERTH_T1_CGROUPS: variable(onOff, "on", "`off` runs T1 without per-sandbox cgroups"),
  BERTH_IMAGE: variable(text, "`localhost/berth-workspace:latest`", "workspace image for T2–T3"),
  BERTH_IMAGE_T4: variable(text, "`localhost/berth-workspace:t4`", "workspace image for T4"),
  BERTH_OCI_CPUS: variable(cpus, "2 (at most the host's)", "CPUs per container"),
  BERTH_OCI_MEMORY: variable(size, "2 GiB", "memory per container"),
  BERTH_OCI_PIDS: variable(wholeNumber(1), "512", "tasks per container"),
  BERTH_OCI_NOFILE: variable(wholeNumber(1), "the host's hard limits", "open files per container"),
  BERTH_OCI_NPROC: variable(wholeNumber(1), "the host's hard limits", "processes per container"),
  BERTH_OCI_INIT: variable(flag, "on", "run containers with the engine's init process"),
  BERTH_GIT_CREDENTIALS: variable(text, "unset", "the operator's git credentials file"),
  BERTH_OTEL_CAPTURE_CONTENT: variable(flag, "off", "record prompts and outputs on spans (redacted)"),
  BERTH_DATABASE_URL: variable(postgresUrl, "unset: SQLite in `$BERTH_HOME`", "PostgreSQL for several berth nodes (docs/scale-out.md); its password is redacted everywhere", true),
  BERTH_NODE_ID: variable(nodeId, "the host name", "this node's id among nodes on one database (`--node-id`)"),
  BERTH_NODE_LEASE_MS: variable(wholeNumber(300, 600_000), "`15000`", "a node's lease: another node takes over its live sessions this long after its last heartbeat"),
  BERTH_URL: variable(url, "`http://127.0.0.1:8765`", "the server the CLI talks to"),
  BERTH_LOG_LEVEL: variable(pinoLevel, "info", "pino level"),
} as const;

export type EnvName = keyof typeof ENV;

/** The parsed environment: each variable typed, undefined when unset or empty. */
export type BerthEnv = { [K in EnvName]?: z.output<(typeof ENV)[K]["schema"]> };

/**
 * Parses every variable berth reads; the first bad one throws a ConfigError naming it, its
 * value, and what it must be. Empty counts as unset.
 */
export function parseEnv(env: NodeJS.ProcessEnv): BerthEnv {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(ENV) as [EnvName, Variable<unknown>][]) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const r = v.schema.safeParse(raw);
    if (!r.success)
      throw new ConfigError(`${name}=${v.secret ? "(not shown)" : JSON.stringify(raw.slice(0, 60))} is not ${r.error.issues[0]?.message ?? "valid"}; fix it or unset it (default: ${v.shown.replace(/`/g, "")})`);
    out[name] = r.data;
  }
  return out as BerthEnv;
}

/** The parts of the parsed environment one component reads (its typed options). */
export type EnvSlice<K extends EnvName> = Pick<BerthEnv, K>;
