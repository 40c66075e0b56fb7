// A provider as berth routes to it: one validated entry of a providers file (or a
// built-in), with what the model lookups and price lookups ask of it.

import type { z } from "zod";
import type { ModelApi } from "../wire/apis.js";
import type { Price, providerSchema } from "./schema.js";

export type ProviderLayer = "env" | "system" | "workspace" | "built-in";

export interface ProviderAuth {
  header: string;
  scheme: string;
  /** The secret's name, never its value. */
  secret: string;
}

export interface Provider {
  id: string;
  api: ModelApi;
  apis: ModelApi[];
  baseUrl?: string;
  auth?: ProviderAuth;
  models: string[];
  aliases: Map<string, string>;
  headers: Record<string, string>;
  prices: Map<string, Price>;
  explicitOnly: boolean;
  source: string;
  layer: ProviderLayer;
}

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function globRe(pattern: string): RegExp {
  return new RegExp("^" + pattern.split("*").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
}

/** Exact names, or globs where `*` matches any run of characters (usually a trailing `*`). */
export function matchesModel(patterns: string[], model: string): boolean {
  return patterns.some((p) => (p.includes("*") ? globRe(p).test(model) : p === model));
}

/** The provider serves `model` under that name or an alias of it. */
export function servesModel(p: Provider, model: string): boolean {
  return p.aliases.has(model) || matchesModel(p.models, model);
}

/** The price of the model sent upstream, else of the name asked for, else of the first glob matching the upstream name. */
export function priceFor(p: Provider, upstreamModel: string, requestedModel: string): Price | undefined {
  return (
    p.prices.get(upstreamModel) ??
    p.prices.get(requestedModel) ??
    [...p.prices].find(([pattern]) => pattern.includes("*") && matchesModel([pattern], upstreamModel))?.[1]
  );
}

/** A schema-valid providers-file entry as berth routes to it: lower-case header names, the auth scheme settled. */
export function toProvider(entry: z.infer<typeof providerSchema>, source: string, layer: ProviderLayer): Provider {
  const auth =
    entry.auth === "none"
      ? undefined
      : {
          header: entry.auth.header.toLowerCase(),
          scheme: entry.auth.scheme ?? (entry.auth.header.toLowerCase() === "authorization" ? "Bearer" : ""),
          secret: entry.auth.secret,
        };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    id: entry.id,
    api: entry.api,
    apis: [...new Set([entry.api, ...(entry.apis ?? [])])],
    baseUrl: trimSlash(entry.baseUrl),
    auth,
    models: entry.models,
    aliases: new Map(Object.entries(entry.aliases ?? {})),
    headers,
    prices: new Map(Object.entries(entry.prices ?? {})),
    explicitOnly: entry.explicitOnly ?? false,
    source,
    layer,
  };
}
