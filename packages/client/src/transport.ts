import { BerthError } from "./errors.js";

export interface ConnectOptions {
  /** Where `berth serve` listens, e.g. http://127.0.0.1:8765 */
  baseUrl: string;
  /** The API token (BERTH_TOKEN, or `$BERTH_HOME/token`). */
  token: string;
  /** A fetch of your own (a proxy agent, a test double); default the global fetch. */
  fetch?: typeof fetch;
  /** Sent with every request (e.g. a tracing header). */
  headers?: Record<string, string>;
}

/** Bytes for an upload: a string is sent as UTF-8. */
export type Upload = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>;

export interface RequestOptions {
  body?: unknown;
  /** Sent as it is (a file, an archive), with its own content-type; instead of `body`. */
  raw?: { data: Upload; contentType: string };
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** HTTP with the bearer token, JSON in and out, errors as BerthError. */
export class Transport {
  readonly baseUrl: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: ConnectOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) throw new BerthError(0, "http_error", `baseUrl must be an http(s) URL, not '${opts.baseUrl}'`);
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    // Bound, so a method reference (globalThis.fetch) keeps its receiver in browsers.
    const f = opts.fetch ?? globalThis.fetch;
    this.fetch = (input, init) => f(input, init);
  }

  async send(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.opts.headers, authorization: `Bearer ${this.opts.token}`, ...o.headers };
    if (o.body !== undefined) headers["content-type"] = "application/json";
    if (o.raw) headers["content-type"] = o.raw.contentType;
    const stream = typeof ReadableStream !== "undefined" && o.raw?.data instanceof ReadableStream;
    try {
      return await this.fetch(this.baseUrl + path, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        ...(o.raw ? { body: o.raw.data as BodyInit } : {}),
        // A streamed request body (Node's fetch insists on saying so).
        ...(stream ? ({ duplex: "half" } as RequestInit) : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      if (o.signal?.aborted) throw new BerthError(0, "aborted", "the request was aborted", { cause: e });
      throw new BerthError(0, "network_error", `could not reach berth at ${this.baseUrl}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** A request whose answer is bytes: the response, once it is known to be a success. */
  async bytes(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const res = await this.send(method, path, o);
    if (!res.ok) throw await BerthError.from(res);
    return res;
  }

  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, { ...o, headers: { accept: "application/json", ...o.headers } });
    if (!res.ok) throw await BerthError.from(res);
    return (await res.json()) as T;
  }
}
