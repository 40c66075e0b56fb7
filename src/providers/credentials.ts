// A route's credentials: the provider's secret, resolved (per-session secrets first, then
// berth's environment), checked against where it may be sent, and put on the route
// where neither JSON nor a spread copies it.

import type { ModelApi } from "../wire/apis.js";
import type { FailResolution } from "./errors.js";
import { servesModel, type Provider, type ProviderAuth } from "./provider.js";
import type { ResolvedRoute } from "./route.js";
import { resolveSecret, secretHowTo, secretPresent, SecretFileError, type ResolvedSecret } from "./secrets.js";

export interface CredentialContext {
  model: string;
  api?: ModelApi;
  env: NodeJS.ProcessEnv;
  /** Per-session secrets (memory only). */
  secrets?: ReadonlyMap<string, string>;
  /** Effective providers, for the hint naming an explicit-only one that could serve. */
  providers: Provider[];
  /** The operator's and built-in providers: the addresses berth's own keys may go to. */
  trusted: Provider[];
  /** The system providers file, named in advice. */
  systemFile: string;
  fail: FailResolution;
}

/** An explicit-only provider that could serve the model and whose secret is set: named in the error, never used. */
function explicitOnlyAlternative(provider: Provider, ctx: CredentialContext): { id: string; secret: string } | undefined {
  for (const other of ctx.providers) {
    if (!other.explicitOnly || other === provider || !other.auth) continue;
    if (!servesModel(other, ctx.model) || (ctx.api && !other.apis.includes(ctx.api))) continue;
    if (secretPresent(other.auth.secret, { env: ctx.env, session: ctx.secrets })) return { id: other.id, secret: other.auth.secret };
  }
  return undefined;
}

function resolveProviderSecret(provider: Provider, name: string, who: string, ctx: CredentialContext): ResolvedSecret {
  let secret: ResolvedSecret | undefined;
  try {
    secret = resolveSecret(name, { env: ctx.env, session: ctx.secrets });
  } catch (e) {
    if (!(e instanceof SecretFileError)) throw e;
    return ctx.fail("missing_secret", `${who} needs secret ${name}: ${e.message}; ${secretHowTo(name)}. berth does not fall back to another provider`, {
      provider: provider.id,
      secret: name,
    });
  }
  if (secret) return secret;
  // Not a fallback: say which explicit-only provider could serve it, if its secret is set.
  const alt = explicitOnlyAlternative(provider, ctx);
  const hint = alt ? `; ${alt.secret} is set, but provider '${alt.id}' is used only when asked for by id` : "";
  return ctx.fail("missing_secret", `${who} needs secret ${name}, which is not set; ${secretHowTo(name)}. berth does not fall back to another provider${hint}`, {
    provider: provider.id,
    secret: name,
  });
}

/**
 * A workspace file is writable by the agent: it may use berth's own keys only where the
 * operator's layers or the built-ins already send them.
 */
function checkWorkspaceMaySend(provider: Provider, name: string, secret: ResolvedSecret, who: string, ctx: CredentialContext): void {
  if (provider.layer !== "workspace" || secret.from === "session") return;
  const vouched = ctx.trusted.some((t) => t.auth?.secret === name && t.baseUrl === provider.baseUrl);
  if (!vouched)
    ctx.fail(
      "secret_not_allowed",
      `${who} would send berth's ${name} to ${provider.baseUrl}, which no operator providers file or built-in does; define this provider in $BERTH_PROVIDERS or ${ctx.systemFile}, or pass ${name} as a per-session secret`,
      { provider: provider.id, secret: name },
    );
}

/** Resolves the provider's secret and puts the credential header on the route. */
export function addCredentials(route: ResolvedRoute, provider: Provider, auth: ProviderAuth, ctx: CredentialContext): void {
  const { secret: name, header, scheme } = auth;
  const who = `provider '${provider.id}' (${provider.source}) for model '${ctx.model}'`;
  const secret = resolveProviderSecret(provider, name, who, ctx);
  checkWorkspaceMaySend(provider, name, secret, who, ctx);
  const value = scheme ? `${scheme} ${secret.value}` : secret.value;
  route.secret = { name, from: secret.from, where: secret.where, scheme };
  Object.defineProperty(route, "auth", { value: { header, value }, enumerable: false, writable: false });
  Object.defineProperty(route, "liveSecrets", { value: [...new Set([secret.value, value])], enumerable: false, writable: false });
}
