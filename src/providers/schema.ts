import { z } from "zod";
import { MODEL_APIS } from "../wire/apis.js";
import { SECRET_NAME } from "./secrets.js";

// The shape of a providers file (and of the built-ins), validated by zod: one home for
// what a provider entry may say, imported by the registry and the built-ins alike.

export { MODEL_APIS };
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
// Credentials travel only through `auth` (named secrets, redacted); hop-by-hop and framing
// headers are the gateway's business.
const FORBIDDEN_HEADERS = new Set([
  "authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization",
  "host", "connection", "keep-alive", "content-length", "transfer-encoding", "te", "trailer", "upgrade",
]);

export const apiSchema = z.enum(MODEL_APIS);
const headerName = z.string().regex(HEADER_NAME, "not a valid HTTP header name");
const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}, "must be an http(s) URL without query, fragment or credentials");
const pattern = z.string().min(1).regex(/^\S+$/, "must not contain whitespace");
export const priceSchema = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
  cacheRead: z.number().nonnegative().optional(),
  cacheWrite: z.number().nonnegative().optional(),
});
const authObject = z.strictObject({
  header: headerName,
  /** Prefix before the secret ("Bearer"); "" sends the bare secret. Default: Bearer for `authorization`, else "". */
  scheme: z.string().regex(/^[A-Za-z0-9._~+/-]*$/, "must be a single word such as Bearer, or empty").optional(),
  secret: z.string().regex(SECRET_NAME, "must be an environment-variable name such as ZAI_API_KEY"),
});
const authSchema = z.union([z.literal("none"), authObject], { error: "must be `none` or { header, scheme, secret }" });

export const providerSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-'"),
    api: apiSchema,
    /** Every wire API the provider speaks at baseUrl (includes `api`). */
    apis: z.array(apiSchema).min(1).optional(),
    baseUrl: httpUrl,
    auth: authSchema,
    models: z.array(pattern).min(1),
    aliases: z.record(z.string().min(1).regex(/^[^*\s]+$/, "an alias is a plain model name (no '*')"), z.string().min(1)).optional(),
    headers: z.record(headerName, z.string()).optional(),
    prices: z.record(z.string().min(1), priceSchema).optional(),
    /** Only chosen when asked for by id (e.g. anthropic-oauth), never by model match. */
    explicitOnly: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.apis && !p.apis.includes(p.api)) ctx.addIssue({ code: "custom", message: "`apis` must include `api`", path: ["apis"] });
    for (const h of Object.keys(p.headers ?? {}))
      if (FORBIDDEN_HEADERS.has(h.toLowerCase()))
        ctx.addIssue({ code: "custom", message: "this header is not allowed here (credentials go in `auth`, by secret name)", path: ["headers", h] });
  });

export const fileSchema = z.strictObject({ providers: z.array(providerSchema) });

/** One provider entry as written in a providers.yaml file (and in builtins.ts). */
export type ProviderInput = z.input<typeof providerSchema>;


/** USD per million tokens. */
export type Price = z.infer<typeof priceSchema>;
