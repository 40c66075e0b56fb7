import { createPrivateKey, sign, type KeyObject } from "node:crypto";

// GitHub App installation tokens for the git credential service (git-credentials.ts).
// berth holds the App's private key; it signs a short RS256 JWT (iss = the App id), trades
// it at POST {apiUrl}/app/installations/{id}/access_tokens for an installation token that
// GitHub makes valid for one hour, caches that token, and trades again once the cached one
// is within `refreshMarginMs` of its `expires_at`. Only the installation token ever leaves
// berth; the key and the JWT never do.

export const GITHUB_API_URL = "https://api.github.com";
/** A cached token this close to its expiry is replaced before it is handed out. */
export const DEFAULT_REFRESH_MARGIN_MS = 5 * 60_000;

export interface GitHubAppOptions {
  /** The App's id (digits) or client id; the JWT's `iss`. */
  appId: string;
  installationId: string;
  /** The App's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8). */
  privateKey: KeyObject;
  /** Default https://api.github.com; GitHub Enterprise Server: https://HOST/api/v3. */
  apiUrl?: string;
  refreshMarginMs?: number;
  /** Milliseconds since the epoch; injectable so tests control expiry without sleeping. */
  now?: () => number;
  fetch?: typeof fetch;
  /** How long one token request may take (default 15 s). */
  timeoutMs?: number;
}

export interface InstallationToken {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Parses a PEM private key; the error says what is wrong, never the key. */
export function parsePrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new Error("is not a PEM private key");
  }
  if (key.asymmetricKeyType !== "rsa") throw new Error(`is a ${key.asymmetricKeyType} key; GitHub Apps sign with RSA (RS256)`);
  return key;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * The App's JWT: RS256, issued a minute in the past (GitHub's advice against clock drift),
 * expiring nine minutes from now (GitHub accepts at most ten).
 */
export function appJwt(appId: string, key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const iss = /^\d+$/.test(appId) ? Number(appId) : appId;
  const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ iat: now - 60, exp: now + 540, iss }));
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(sig)}`;
}

/** One App installation's token, cached and refreshed before it expires. */
export class GitHubAppTokens {
  private cached?: InstallationToken;
  private pending?: Promise<InstallationToken>;
  private readonly now: () => number;
  private readonly margin: number;
  readonly apiUrl: string;

  constructor(private readonly opts: GitHubAppOptions) {
    this.now = opts.now ?? Date.now;
    this.margin = opts.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
    this.apiUrl = (opts.apiUrl ?? GITHUB_API_URL).replace(/\/+$/, "");
  }

  /** A token with more than the margin left: the cached one, or a fresh one (one request at a time). */
  async token(): Promise<InstallationToken> {
    const c = this.cached;
    if (c && c.expiresAt - this.margin > this.now()) return c;
    this.pending ??= this.mint().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async mint(): Promise<InstallationToken> {
    const url = `${this.apiUrl}/app/installations/${encodeURIComponent(this.opts.installationId)}/access_tokens`;
    const what = `GitHub App ${this.opts.appId}: POST ${url}`;
    let res: Response;
    try {
      res = await (this.opts.fetch ?? fetch)(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${appJwt(this.opts.appId, this.opts.privateKey, this.now())}`,
          accept: "application/vnd.github+json",
          "x-github-api-version": "2022-11-28",
          "user-agent": "berth",
        },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      throw new Error(`${what} failed: ${err.cause?.code ?? err.message}`);
    }
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status !== 201 && res.status !== 200) {
      const msg = typeof body?.message === "string" ? body.message : text.split("\n")[0]!.slice(0, 200);
      throw new Error(`${what} answered ${res.status}: ${msg}`);
    }
    const expiresAt = typeof body?.expires_at === "string" ? Date.parse(body.expires_at) : NaN;
    if (typeof body?.token !== "string" || !body.token || !Number.isFinite(expiresAt))
      throw new Error(`${what} answered ${res.status} without a token and expires_at`);
    this.cached = { token: body.token, expiresAt };
    return this.cached;
  }
}
