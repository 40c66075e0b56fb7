// A resolved route: where the gateway sends a model call, and with what.

import type { ModelApi } from "../wire/apis.js";
import { priceFor, type Provider } from "./provider.js";
import type { Price } from "./schema.js";
import type { ResolvedSecret } from "./secrets.js";

export interface ResolvedRoute {
  provider: string;
  api: ModelApi;
  baseUrl: string;
  /** The model name sent upstream (after alias). */
  model: string;
  /** The model name asked for. */
  requestedModel: string;
  /**
   * The credential header and its value. NOT enumerable: JSON.stringify(route), a log
   * line or an event built by spreading the route never carries it. Read `route.auth`
   * directly; don't copy the route with `{...route}` before handing it to the gateway.
   */
  auth?: { header: string; value: string };
  /** Which secret, and where it came from ("$ZAI_API_KEY", "per-session secret"): never the value. */
  secret?: { name: string; from: ResolvedSecret["from"]; where: string; scheme: string };
  /**
   * The live secret strings of this route (the raw secret and the header value), for the
   * redactor. NOT enumerable, like `auth`.
   */
  liveSecrets?: string[];
  headers: Record<string, string>;
  price?: Price;
  /** The providers file the provider came from, or "built-in". */
  source: string;
}

/** The route to `provider` for `requestedModel` over `api`, without credentials. */
export function routeTo(provider: Provider, baseUrl: string, requestedModel: string, api: ModelApi): ResolvedRoute {
  const upstreamModel = provider.aliases.get(requestedModel) ?? requestedModel;
  const route: ResolvedRoute = {
    provider: provider.id,
    api,
    baseUrl,
    model: upstreamModel,
    requestedModel,
    headers: { ...provider.headers },
    source: provider.source,
  };
  const price = priceFor(provider, upstreamModel, requestedModel);
  if (price) route.price = { ...price };
  return route;
}
