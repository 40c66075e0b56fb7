// Warm pool declarations (README "Warm pools"): which harness × tier × model the operator
// keeps pre-started, how many, for how long. From BERTH_POOLS (inline) and BERTH_POOLS_FILE
// (YAML), checked at start so a bad declaration stops the server with one line.
import { existsSync, readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ConfigError } from "../config/errors.js";
import { parseTier, TIERS, type Tier } from "../sandboxes/types.js";

export interface PoolDeclaration {
  /** "<harness>:<tier>:<model>": how logs, metrics and events name the pool. */
  name: string;
  harness: string;
  tier: Tier;
  /** The model as sessions ask for it (resolved through the server's providers). */
  model: string;
  /** Entries kept ready. */
  size: number;
  /** An entry idle this long is replaced by a fresh one (0: never). */
  maxIdleMs: number;
}

export interface PoolSettings {
  pools: PoolDeclaration[];
  /** Entries started at once across all pools: refilling never takes more of the machine. */
  refillConcurrency: number;
  /** How long after a claim its pool starts the replacement (the claimed session's first turn goes first). */
  refillDelayMs: number;
}

export const DEFAULT_POOL_MAX_IDLE_MS = 30 * 60_000;
export const DEFAULT_POOL_REFILL_DELAY_MS = 500;
export const MAX_POOL_SIZE = 256;

const tierField = z.string().transform((v, ctx): Tier => {
  const t = parseTier(v);
  if (!t) ctx.addIssue({ code: "custom", message: `must be a tier: ${TIERS.join(", ")} (or t0-t4)` });
  return t ?? "process";
});

const entrySchema = z.strictObject({
  harness: z.string().regex(/^[a-z0-9-]+$/, "must be a harness id such as pi or claude"),
  tier: tierField.optional(),
  model: z.string().min(1).max(200).regex(/^[^\s]+$/, "must be a model name without spaces"),
  size: z.number().int().min(1).max(MAX_POOL_SIZE),
  maxIdleMs: z.number().int().min(0).optional(),
});

const fileSchema = z.strictObject({
  refillConcurrency: z.number().int().min(1).max(64).optional(),
  refillDelayMs: z.number().int().min(0).max(600_000).optional(),
  pools: z.array(entrySchema).max(64),
});

/**
 * `harness:tier:model=size` entries, comma-separated (the model may itself hold colons or
 * slashes: everything between the second colon and the last `=`).
 */
export function parseInlinePools(raw: string): z.input<typeof entrySchema>[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const m = /^([^:=]+):([^:=]+):(.+)=(\d{1,4})$/.exec(item);
      if (!m) throw new ConfigError(`BERTH_POOLS entry ${JSON.stringify(item.slice(0, 80))} is not harness:tier:model=size (e.g. pi:process:mock-1=2)`);
      return { harness: m[1]!, tier: m[2]!, model: m[3]!, size: Number(m[4]) };
    });
}

export interface PoolEnv {
  BERTH_POOLS?: string;
  BERTH_POOLS_FILE?: string;
  BERTH_POOL_MAX_IDLE_MS?: number;
  BERTH_POOL_REFILL_CONCURRENCY?: number;
  BERTH_POOL_REFILL_DELAY_MS?: number;
}

/** Every declared pool, checked; the file's entries first, then BERTH_POOLS's. A pool named twice is an error. */
export function loadPoolSettings(env: PoolEnv, defaultTier: Tier): PoolSettings {
  const entries: { where: string; entry: z.input<typeof entrySchema> }[] = [];
  let refill = env.BERTH_POOL_REFILL_CONCURRENCY;
  let delay = env.BERTH_POOL_REFILL_DELAY_MS;
  if (env.BERTH_POOLS_FILE) {
    const file = env.BERTH_POOLS_FILE;
    if (!existsSync(file)) throw new ConfigError(`BERTH_POOLS_FILE ${file} does not exist`);
    const doc = parseDocument(readFileSync(file, "utf8"));
    if (doc.errors.length) throw new ConfigError(`${file}: ${doc.errors[0]!.message.split("\n")[0]}`);
    const r = fileSchema.safeParse(doc.toJS());
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new ConfigError(`${file}: ${issue.path.join(".") || "(top level)"} ${issue.message}`);
    }
    refill ??= r.data.refillConcurrency;
    delay ??= r.data.refillDelayMs;
    r.data.pools.forEach((entry, i) => entries.push({ where: `${file}: pools.${i}`, entry }));
  }
  if (env.BERTH_POOLS) for (const entry of parseInlinePools(env.BERTH_POOLS)) entries.push({ where: "BERTH_POOLS", entry });

  const pools: PoolDeclaration[] = [];
  for (const { where, entry } of entries) {
    const r = entrySchema.safeParse(entry);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new ConfigError(`${where}: ${issue.path.join(".")} ${issue.message}`);
    }
    const tier = r.data.tier ?? defaultTier;
    const name = `${r.data.harness}:${tier}:${r.data.model}`;
    if (pools.some((p) => p.name === name)) throw new ConfigError(`${where}: pool ${name} is declared twice`);
    pools.push({ name, harness: r.data.harness, tier, model: r.data.model, size: r.data.size, maxIdleMs: r.data.maxIdleMs ?? env.BERTH_POOL_MAX_IDLE_MS ?? DEFAULT_POOL_MAX_IDLE_MS });
  }
  return { pools, refillConcurrency: refill ?? 1, refillDelayMs: delay ?? DEFAULT_POOL_REFILL_DELAY_MS };
}
