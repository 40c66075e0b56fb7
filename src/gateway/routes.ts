import { ENDPOINTS, FAMILY_OF, FAMILY_PREFIX, GEMINI_PATH, type ApiFamily, type CallKind, type ModelApi } from "../wire/apis.js";

// What a sandbox may ask the gateway to forward: exactly the model endpoints the five
// harnesses call, per wire family, and nothing else (no batches, files, admin or model
// management APIs, which would spend or leak through the real key unmetered).
//
// Seen at berth's mock provider from the five harness e2e tests (test/e2e/*-session.test.ts),
// path after the family prefix:
//   Pi           anthropic  POST /v1/messages
//   Claude Code  anthropic  POST /v1/messages?beta=true
//   OpenCode     anthropic  POST /v1/messages
//   Codex        openai     POST /v1/responses
//   Gemini CLI   google     POST /v1beta/models/{model}:streamGenerateContent?alt=sse
// Also allowed, because the same harnesses call them in paths the tests do not reach:
//   openai  POST /v1/chat/completions   (a route whose API is openai-chat)
//   google  POST .../{model}:generateContent (Gemini CLI's JSON side calls: next speaker, loop detection)
//   anthropic POST /v1/messages/count_tokens, google POST .../{model}:countTokens
//           (token counting: free upstream, never generates; still pinned to the session's model)

/** What an allowed request is. `generate` calls are metered and spend budget. */
export interface AllowedCall {
  kind: CallKind;
  /** The wire API the endpoint belongs to (what reads its usage). */
  api: ModelApi;
  /** The canonical path to append to the provider's base URL. */
  path: string;
  /** The query string to forward, with its `?`, or "". */
  query: string;
  /** Gemini names the model in the path. */
  pathModel?: string;
}

export interface RouteRefusal {
  status: number;
  code: string;
  message: string;
  allow?: string;
}

/** Exact paths per family: each API's fixed endpoints under `/v1`, as its SDKs call them. */
const FIXED: Record<ApiFamily, Record<string, { kind: CallKind; api: ModelApi }>> = { anthropic: {}, openai: {}, google: {} };
for (const e of ENDPOINTS) FIXED[FAMILY_OF[e.api]][`/v1${e.path}`] = { kind: e.kind, api: e.api };

/** Query parameters a family's SDK sends; the values are plain words. */
const QUERY: Record<ApiFamily, Set<string>> = {
  anthropic: new Set(["beta"]),
  openai: new Set(),
  google: new Set(["alt"]),
};

// Checked on the raw request target, before anything decodes or normalises it: every
// segment is plain (no empty segment, no `.`/`..`, no percent-encoding, no backslash),
// so nothing in the path can climb above the provider's base URL.
// A segment may contain dots but not start with one, which rules out `.` and `..`.
const SEGMENT = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]*$/;

/** Refuses a request target that is not plain, canonical path syntax (undefined when it is). */
export function nonCanonical(target: string): RouteRefusal | undefined {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const segments = path.split("/");
  const plain = path.startsWith("/") && segments.slice(1).every((s) => SEGMENT.test(s));
  if (plain) return undefined;
  return {
    status: 400,
    code: "path_not_canonical",
    message: "the gateway takes plain request paths only (no '.' or '..' segments, '//', backslashes or percent-encoding); call the model API path as the provider documents it",
  };
}

/** The allowlisted call a request is, or why it is refused. `rest` is the raw target after the family prefix. */
export function allowedCall(family: ApiFamily, method: string, rest: string): AllowedCall | RouteRefusal {
  const bad = nonCanonical(rest);
  if (bad) return bad;
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q);
  const gemini = family === "google" ? GEMINI_PATH.exec(path) : null;
  const endpoint = gemini ? { kind: gemini[3] === "countTokens" ? ("count" as const) : ("generate" as const), api: "google-generative-ai" as const } : FIXED[family][path];
  if (!endpoint)
    return { status: 404, code: "route_not_allowed", message: `the gateway does not forward ${method} ${FAMILY_PREFIX[family]}${path}: only the ${family} model endpoints the harnesses use are allowed` };
  if (method !== "POST") return { status: 405, code: "method_not_allowed", message: `${path} takes POST only`, allow: "POST" };
  const badQuery = queryProblem(family, query);
  if (badQuery) return { status: 400, code: "query_not_allowed", message: badQuery };
  return { ...endpoint, path, query, ...(gemini ? { pathModel: gemini[2]! } : {}) };
}

function queryProblem(family: ApiFamily, query: string): string | undefined {
  if (query === "" || query === "?") return undefined;
  for (const pair of query.slice(1).split("&")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    if (!QUERY[family].has(key) || !/^[A-Za-z0-9._-]*$/.test(value))
      return `query parameter '${key.slice(0, 40)}' is not forwarded to the ${family} API; allowed: ${[...QUERY[family]].join(", ") || "none"}`;
  }
  return undefined;
}

export function isRefusal<T extends object>(x: T | RouteRefusal): x is RouteRefusal {
  return "status" in x && "code" in x;
}
