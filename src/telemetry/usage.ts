// Token usage from the model traffic the gateway streams, read on the fly.
//
// The gateway never buffers a response; these taps see the same chunks it forwards and
// keep only what they need. A byte-level JSON scanner walks each body (or each SSE event's
// data) and materialises nothing but a handful of whitelisted fields (model, usage counts,
// finish reasons), so memory stays constant whatever the size of the response, chunk
// boundaries can fall anywhere (inside a UTF-8 character, an SSE line, a JSON token), and
// a malformed body yields zeros, never an exception.

import type { ModelApi } from "../harnesses/types.js";

/** The wire APIs whose usage berth reads: every model API a harness speaks. */
export type UsageApi = ModelApi;

export interface ModelUsage {
  /**
   * All input tokens, cached ones included (the meaning of `gen_ai.usage.input_tokens`):
   * Anthropic's input_tokens + cache_read_input_tokens + cache_creation_input_tokens, or
   * OpenAI's prompt_tokens / input_tokens, which already include cached tokens.
   */
  inputTokens: number;
  /** Output tokens, reasoning tokens included. */
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a subset of inputTokens). */
  cacheReadTokens: number;
  /** Input tokens written to the provider's prompt cache (a subset of inputTokens). */
  cacheWriteTokens: number;
  /** Reasoning/thinking output tokens when the provider reports them (a subset of outputTokens). */
  reasoningTokens?: number;
  responseModel?: string;
  responseId?: string;
  /** Provider values as sent: Anthropic stop_reason, OpenAI finish_reason per choice, Responses status or incomplete reason. */
  finishReasons?: string[];
  /** True when the response carried a usage block at all (an OpenAI chat stream without include_usage does not). */
  reported: boolean;
  /** An error reported inside a 200 stream (Anthropic `error` event, Responses `response.failed`): its type or code. */
  streamError?: string;
}

export interface UsageTap {
  write(chunk: Buffer): void;
  /** What was seen so far; may be called more than once (e.g. after an aborted stream). */
  end(): ModelUsage;
}

/** USD per million tokens. Cache prices default to the input price when absent. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/**
 * Cost in USD. Cached tokens are a subset of inputTokens, so uncached input is charged at
 * `input` and the cached parts at their own rates; reasoning is inside outputTokens.
 */
export function computeCost(usage: Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens">, price?: ModelPrice): number | undefined {
  if (!price) return undefined;
  const uncached = Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens);
  const micro =
    uncached * price.input +
    usage.cacheReadTokens * (price.cacheRead ?? price.input) +
    usage.cacheWriteTokens * (price.cacheWrite ?? price.input) +
    usage.outputTokens * price.output;
  return micro / 1_000_000;
}

/**
 * The API a gateway request speaks, from its upstream path (query string excluded), or
 * undefined for calls that produce no model usage: model listings, token counting
 * (`/v1/messages/count_tokens` answers `{input_tokens}`, which is not usage), batches.
 */
export function apiForPath(pathname: string): UsageApi | undefined {
  const p = pathname.split("?")[0]!.replace(/\/+$/, "");
  if (/\/messages$/.test(p)) return "anthropic-messages";
  if (/\/chat\/completions$/.test(p)) return "openai-chat";
  if (/\/responses$/.test(p)) return "openai-responses";
  if (/\/models\/[^/]+:(?:generateContent|streamGenerateContent)$/.test(p)) return "google-generative-ai";
  return undefined;
}

/** The model a request names in its path (Gemini: `/v1beta/models/{model}:generateContent`); others name it in the body. */
export function modelFromPath(pathname: string): string | undefined {
  const m = /\/models\/([^/:?]+):(?:generateContent|streamGenerateContent)(?:\?|$)/.exec(pathname);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1];
  }
}

// --- the JSON scanner ---------------------------------------------------------------

interface Trie {
  children?: Map<string, Trie>;
  /** Matches any array index or object key ("*" in a path). */
  any?: Trie;
  leaf?: boolean;
}

function trie(paths: string[]): Trie {
  const root: Trie = {};
  for (const p of paths) {
    let n = root;
    for (const part of p.split(".")) {
      if (part === "*") n = n.any ??= {};
      else {
        n.children ??= new Map();
        let c = n.children.get(part);
        if (!c) n.children.set(part, (c = {}));
        n = c;
      }
    }
    n.leaf = true;
  }
  return root;
}

type Scalar = string | number | boolean | null;

interface Frame {
  node: Trie | undefined;
  arr: boolean;
  key: string | undefined;
  idx: number;
}

const enum St {
  Value,
  Key,
  Str,
  Atom,
  Dead,
}

const MAX_DEPTH = 256;
const MAX_CAPTURE = 512; // bytes of one captured string (model names, reasons)
const MAX_KEY = 128;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x74: 0x09, 0x72: 0x0d, 0x62: 0x08, 0x66: 0x0c };

/**
 * A streaming, allocation-light JSON walker: it tokenizes every byte but keeps only the
 * values whose path is in `want`, and only a bounded prefix of each. Not a validator:
 * malformed input just produces no (or partial) captures.
 */
class JsonScanner {
  private frames: Frame[] = [];
  private st = St.Value;
  private strKey = false;
  private cap = false;
  // The captured bytes of the current string/atom (bounded; reused, never reallocated).
  private bytes = Buffer.allocUnsafe(MAX_CAPTURE + 4);
  private blen = 0;
  private esc = 0; // 0 none, 1 after backslash, 2..5 reading \uXXXX digits
  private uni = 0;
  // Position of the next backslash in the current buffer (buffer length when none), cached
  // so skipping string content stays linear in the size of the buffer.
  private bsBuf: Buffer | undefined;
  private nextBs = 0;

  constructor(
    private root: Trie,
    private emit: (path: string, value: Scalar) => void,
  ) {}

  reset(): void {
    this.frames.length = 0;
    this.st = St.Value;
    this.esc = 0;
    this.cap = false;
    this.blen = 0;
  }

  /** Finishes a pending top-level atom (a body that is a bare number). */
  finish(): void {
    if (this.st === St.Atom) this.endAtom();
  }

  private valueNode(): Trie | undefined {
    const top = this.frames[this.frames.length - 1];
    if (!top) return this.root;
    const n = top.node;
    if (!n) return undefined;
    if (top.arr) return n.any;
    return (top.key !== undefined ? n.children?.get(top.key) : undefined) ?? n.any;
  }

  private path(): string {
    let s = "";
    for (const f of this.frames) s += (s ? "." : "") + (f.arr ? String(f.idx) : (f.key ?? ""));
    return s;
  }

  private endString(): void {
    this.st = St.Value;
    const top = this.frames[this.frames.length - 1];
    if (this.strKey) {
      if (top) top.key = this.cap ? (this.blen > MAX_KEY ? "\u0000" : this.bytes.toString("utf8", 0, this.blen)) : undefined;
    } else if (this.cap) {
      this.emit(this.path(), this.bytes.toString("utf8", 0, this.blen));
    }
    this.cap = false;
    this.blen = 0;
  }

  private endAtom(): void {
    this.st = St.Value;
    if (!this.cap) return;
    const s = this.bytes.toString("latin1", 0, this.blen);
    this.cap = false;
    this.blen = 0;
    let v: Scalar;
    if (s === "true") v = true;
    else if (s === "false") v = false;
    else if (s === "null") v = null;
    else {
      v = Number(s);
      if (Number.isNaN(v)) return;
    }
    this.emit(this.path(), v);
  }

  write(buf: Buffer, start = 0, end = buf.length): void {
    for (let i = start; i < end; i++) {
      if (this.st === St.Str && this.esc === 0 && !this.cap) {
        // Fast path through string content nobody wants: jump to the next quote or backslash.
        if (this.bsBuf !== buf || this.nextBs < i) {
          const b = buf.indexOf(0x5c, i);
          this.bsBuf = buf;
          this.nextBs = b < 0 ? buf.length : b;
        }
        const q = buf.indexOf(0x22, i);
        const stop = Math.min(q < 0 ? buf.length : q, this.nextBs);
        if (stop >= end) return;
        i = stop;
      }
      const c = buf[i]!;
      switch (this.st) {
        case St.Dead:
          return;
        case St.Str:
          if (this.esc === 0) {
            if (c === 0x22) this.endString();
            else if (c === 0x5c) this.esc = 1;
            else if (this.cap && this.blen < MAX_CAPTURE) this.bytes[this.blen++] = c;
          } else if (this.esc === 1) {
            if (c === 0x75) {
              this.esc = 2;
              this.uni = 0;
            } else {
              this.esc = 0;
              if (this.cap && this.blen < MAX_CAPTURE) this.bytes[this.blen++] = ESCAPES[c] ?? c;
            }
          } else {
            const h = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
            this.uni = (this.uni << 4) | (h & 0xf);
            if (++this.esc === 6) {
              this.esc = 0;
              // A lone surrogate encodes as U+FFFD (3 bytes); the buffer has room past MAX_CAPTURE.
              if (this.cap && this.blen < MAX_CAPTURE) this.blen += this.bytes.write(String.fromCharCode(this.uni), this.blen, "utf8");
            }
          }
          continue;
        case St.Atom:
          if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x3a || isWs(c)) {
            this.endAtom();
            break; // the delimiter is structural: handle it below
          }
          if (this.cap && this.blen < 64) this.bytes[this.blen++] = c;
          continue;
        case St.Key:
        case St.Value:
          break; // between tokens: the character is structural, handled below
      }
      if (isWs(c)) continue;
      switch (c) {
        case 0x7b: // {
        case 0x5b: {
          // [
          if (this.frames.length >= MAX_DEPTH) {
            this.st = St.Dead;
            return;
          }
          const node = this.valueNode();
          this.frames.push({ node, arr: c === 0x5b, key: undefined, idx: 0 });
          this.st = c === 0x7b ? St.Key : St.Value;
          break;
        }
        case 0x7d: // }
        case 0x5d: // ]
          this.frames.pop();
          this.st = St.Value;
          break;
        case 0x22: {
          // "
          if (this.st === St.Key) {
            this.strKey = true;
            this.cap = this.frames[this.frames.length - 1]?.node !== undefined;
          } else {
            this.strKey = false;
            this.cap = this.valueNode()?.leaf === true;
          }
          this.blen = 0;
          this.st = St.Str;
          break;
        }
        case 0x3a: // :
          this.st = St.Value;
          break;
        case 0x2c: {
          // ,
          const top = this.frames[this.frames.length - 1];
          if (top?.arr) {
            top.idx++;
            this.st = St.Value;
          } else if (top) {
            top.key = undefined;
            this.st = St.Key;
          }
          break;
        }
        default:
          this.cap = this.valueNode()?.leaf === true;
          this.blen = 0;
          if (this.cap) this.bytes[this.blen++] = c;
          this.st = St.Atom;
      }
    }
  }
}

// --- per-API interpretation -------------------------------------------------------------

type Fields = Map<string, Scalar>;

function num(f: Fields, k: string): number | undefined {
  const v = f.get(k);
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function str(f: Fields, k: string): string | undefined {
  const v = f.get(k);
  return typeof v === "string" && v ? v : undefined;
}

/** Accumulates fields from one body or one SSE event at a time. */
interface Interpreter {
  /** Fields of interest in a plain JSON body, and in one SSE event's data. */
  jsonPaths: string[];
  ssePaths: string[];
  /** SSE event names worth scanning (others are skipped unparsed); undefined scans every event. */
  sseEvents?: Set<string>;
  json(f: Fields): void;
  event(name: string | undefined, f: Fields): void;
  result(): ModelUsage;
}

const ANTHROPIC_USAGE = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"];

function anthropic(): Interpreter {
  let input: number | undefined, output: number | undefined, cw: number | undefined, cr: number | undefined;
  let model: string | undefined, id: string | undefined, stop: string | undefined, err: string | undefined;
  let reported = false;
  const usage = (f: Fields, prefix: string) => {
    // message_delta's counts are cumulative: later values replace earlier ones.
    const i = num(f, `${prefix}input_tokens`), o = num(f, `${prefix}output_tokens`);
    const w = num(f, `${prefix}cache_creation_input_tokens`), r = num(f, `${prefix}cache_read_input_tokens`);
    if (i !== undefined) input = i;
    if (o !== undefined) output = o;
    if (w !== undefined) cw = w;
    if (r !== undefined) cr = r;
    if (i !== undefined || o !== undefined) reported = true;
  };
  return {
    jsonPaths: ["type", "id", "model", "stop_reason", "error.type", ...ANTHROPIC_USAGE.map((k) => `usage.${k}`)],
    ssePaths: [
      "type",
      "message.id",
      "message.model",
      "message.stop_reason",
      ...ANTHROPIC_USAGE.map((k) => `message.usage.${k}`),
      "delta.stop_reason",
      ...ANTHROPIC_USAGE.map((k) => `usage.${k}`),
      "error.type",
    ],
    sseEvents: new Set(["message_start", "message_delta", "error"]),
    json(f) {
      if (str(f, "type") === "error") err = str(f, "error.type") ?? "error";
      model = str(f, "model") ?? model;
      id = str(f, "id") ?? id;
      stop = str(f, "stop_reason") ?? stop;
      usage(f, "usage.");
    },
    event(name, f) {
      const type = str(f, "type") ?? name;
      if (type === "message_start") {
        model = str(f, "message.model") ?? model;
        id = str(f, "message.id") ?? id;
        stop = str(f, "message.stop_reason") ?? stop;
        usage(f, "message.usage.");
      } else if (type === "message_delta") {
        stop = str(f, "delta.stop_reason") ?? stop;
        usage(f, "usage.");
      } else if (type === "error") err = str(f, "error.type") ?? "error";
    },
    result() {
      const read = cr ?? 0, write = cw ?? 0;
      return usageResult(
        { inputTokens: (input ?? 0) + read + write, outputTokens: output ?? 0, cacheReadTokens: read, cacheWriteTokens: write },
        { model, id, finish: stop ? [stop] : [], reported, err },
      );
    },
  };
}

const CHAT_PATHS = [
  "id",
  "model",
  "usage.prompt_tokens",
  "usage.completion_tokens",
  "usage.prompt_tokens_details.cached_tokens",
  "usage.completion_tokens_details.reasoning_tokens",
  "usage.prompt_cache_hit_tokens", // DeepSeek
  "usage.cached_tokens", // Moonshot/Kimi
  "choices.*.index",
  "choices.*.finish_reason",
  "error.type",
  "error.code",
];

function openaiChat(): Interpreter {
  let input: number | undefined, output: number | undefined, cached: number | undefined, reasoning: number | undefined;
  let model: string | undefined, id: string | undefined, err: string | undefined;
  let reported = false;
  const reasons = new Map<number, string>();
  const take = (f: Fields) => {
    model ??= str(f, "model");
    id ??= str(f, "id");
    const p = num(f, "usage.prompt_tokens"), c = num(f, "usage.completion_tokens");
    if (p !== undefined) input = p;
    if (c !== undefined) output = c;
    if (p !== undefined || c !== undefined) reported = true;
    const hit = num(f, "usage.prompt_tokens_details.cached_tokens") ?? num(f, "usage.prompt_cache_hit_tokens") ?? num(f, "usage.cached_tokens");
    if (hit !== undefined) cached = hit;
    const r = num(f, "usage.completion_tokens_details.reasoning_tokens");
    if (r !== undefined) reasoning = r;
    for (let pos = 0; ; pos++) {
      const k = `choices.${pos}.`;
      const idx = f.get(`${k}index`), reason = f.get(`${k}finish_reason`);
      if (idx === undefined && reason === undefined) break;
      if (typeof reason === "string" && reason) reasons.set(typeof idx === "number" ? idx : pos, reason);
    }
    const e = str(f, "error.code") ?? str(f, "error.type");
    if (e) err = e;
  };
  return {
    jsonPaths: CHAT_PATHS,
    ssePaths: CHAT_PATHS,
    json: take,
    event: (_name, f) => take(f),
    result() {
      return usageResult(
        { inputTokens: input ?? 0, outputTokens: output ?? 0, cacheReadTokens: cached ?? 0, cacheWriteTokens: 0, reasoningTokens: reasoning },
        { model, id, finish: byIndex(reasons), reported, err },
      );
    },
  };
}

const RESPONSE_FIELDS = [
  "id",
  "model",
  "status",
  "incomplete_details.reason",
  "error.code",
  "usage.input_tokens",
  "usage.output_tokens",
  "usage.input_tokens_details.cached_tokens",
  "usage.output_tokens_details.reasoning_tokens",
];

function openaiResponses(): Interpreter {
  let input: number | undefined, output: number | undefined, cached: number | undefined, reasoning: number | undefined;
  let model: string | undefined, id: string | undefined, status: string | undefined, incomplete: string | undefined, err: string | undefined;
  let reported = false;
  const take = (f: Fields, p: string) => {
    model = str(f, `${p}model`) ?? model;
    id = str(f, `${p}id`) ?? id;
    status = str(f, `${p}status`) ?? status;
    incomplete = str(f, `${p}incomplete_details.reason`) ?? incomplete;
    const i = num(f, `${p}usage.input_tokens`), o = num(f, `${p}usage.output_tokens`);
    if (i !== undefined) input = i;
    if (o !== undefined) output = o;
    if (i !== undefined || o !== undefined) reported = true;
    const c = num(f, `${p}usage.input_tokens_details.cached_tokens`);
    if (c !== undefined) cached = c;
    const r = num(f, `${p}usage.output_tokens_details.reasoning_tokens`);
    if (r !== undefined) reasoning = r;
    const e = str(f, `${p}error.code`);
    if (e) err = e;
  };
  return {
    jsonPaths: RESPONSE_FIELDS,
    ssePaths: ["type", "code", ...RESPONSE_FIELDS.map((k) => `response.${k}`)],
    sseEvents: new Set(["response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed", "error"]),
    json: (f) => take(f, ""),
    event(name, f) {
      const type = str(f, "type") ?? name;
      if (type === "error") err = str(f, "code") ?? "error";
      else take(f, "response.");
      if (type === "response.failed") err ??= "response.failed";
    },
    result() {
      const finish = incomplete ?? (status && status !== "in_progress" && status !== "queued" ? status : undefined);
      return usageResult(
        { inputTokens: input ?? 0, outputTokens: output ?? 0, cacheReadTokens: cached ?? 0, cacheWriteTokens: 0, reasoningTokens: reasoning },
        { model, id, finish: finish ? [finish] : [], reported, err },
      );
    },
  };
}

const GEMINI_FIELDS = [
  "responseId",
  "modelVersion",
  "usageMetadata.promptTokenCount",
  "usageMetadata.candidatesTokenCount",
  "usageMetadata.cachedContentTokenCount",
  "usageMetadata.thoughtsTokenCount",
  "usageMetadata.toolUsePromptTokenCount",
  "candidates.*.index",
  "candidates.*.finishReason",
  "error.status",
];

/**
 * Gemini generateContent / streamGenerateContent: one object, an SSE stream of them
 * (`alt=sse`) or a JSON array of them. usageMetadata is cumulative (the last one holds the
 * totals); promptTokenCount includes cached tokens; thoughts are counted apart from
 * candidates, so output = candidates + thoughts.
 */
function gemini(): Interpreter {
  let prompt: number | undefined, toolPrompt: number | undefined, cand: number | undefined, thoughts: number | undefined, cached: number | undefined;
  let model: string | undefined, id: string | undefined, err: string | undefined;
  let reported = false;
  let reasons = new Map<number, string>();
  const take = (f: Fields, p: string) => {
    model = str(f, `${p}modelVersion`) ?? model;
    id = str(f, `${p}responseId`) ?? id;
    const pt = num(f, `${p}usageMetadata.promptTokenCount`), ct = num(f, `${p}usageMetadata.candidatesTokenCount`);
    if (pt !== undefined) prompt = pt;
    if (ct !== undefined) {
      cand = ct;
      reported = true;
    }
    const tp = num(f, `${p}usageMetadata.toolUsePromptTokenCount`);
    if (tp !== undefined) toolPrompt = tp;
    const th = num(f, `${p}usageMetadata.thoughtsTokenCount`);
    if (th !== undefined) thoughts = th;
    const c = num(f, `${p}usageMetadata.cachedContentTokenCount`);
    if (c !== undefined) cached = c;
    const now = new Map<number, string>();
    for (let pos = 0; ; pos++) {
      const k = `${p}candidates.${pos}.`;
      const idx = f.get(`${k}index`), reason = f.get(`${k}finishReason`);
      if (idx === undefined && reason === undefined) break;
      if (typeof reason === "string" && reason) now.set(typeof idx === "number" ? idx : pos, reason);
    }
    if (now.size) reasons = now;
    const e = str(f, `${p}error.status`);
    if (e) err = e;
  };
  return {
    jsonPaths: [...GEMINI_FIELDS, ...GEMINI_FIELDS.map((k) => `*.${k}`)],
    ssePaths: GEMINI_FIELDS,
    json(f) {
      take(f, "");
      // A streamGenerateContent body without alt=sse is a JSON array of chunks: apply them in order.
      let last = -1;
      for (const k of f.keys()) {
        const m = /^(\d+)\./.exec(k);
        if (m) last = Math.max(last, Number(m[1]));
      }
      for (let i = 0; i <= last; i++) take(f, `${i}.`);
    },
    event: (_name, f) => take(f, ""),
    result() {
      return usageResult(
        {
          inputTokens: (prompt ?? 0) + (toolPrompt ?? 0),
          outputTokens: (cand ?? 0) + (thoughts ?? 0),
          cacheReadTokens: cached ?? 0,
          cacheWriteTokens: 0,
          reasoningTokens: thoughts,
        },
        { model, id, finish: byIndex(reasons), reported, err },
      );
    },
  };
}

type TokenCounts = Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens" | "reasoningTokens">;

/** What every interpreter reports, with the optional fields present only when known. */
function usageResult(
  t: TokenCounts,
  m: { model?: string; id?: string; finish: string[]; reported: boolean; err?: string },
): ModelUsage {
  return {
    inputTokens: t.inputTokens,
    outputTokens: t.outputTokens,
    cacheReadTokens: t.cacheReadTokens,
    cacheWriteTokens: t.cacheWriteTokens,
    ...(t.reasoningTokens !== undefined ? { reasoningTokens: t.reasoningTokens } : {}),
    ...(m.model ? { responseModel: m.model } : {}),
    ...(m.id ? { responseId: m.id } : {}),
    ...(m.finish.length ? { finishReasons: m.finish } : {}),
    reported: m.reported,
    ...(m.err ? { streamError: m.err } : {}),
  };
}

/** Finish reasons per choice/candidate index, in index order. */
function byIndex(reasons: Map<number, string>): string[] {
  return [...reasons.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

// --- SSE framing -------------------------------------------------------------------------

const enum Line {
  Field, // reading the field name at the start of a line
  Data,
  Event,
  Skip,
}

/**
 * SSE per the HTML spec's framing (LF, CR or CRLF line ends, `field: value`, comments,
 * multi-line data, a blank line dispatches), with each event's data fed straight into a
 * JSON scanner instead of being collected.
 */
class SseTap {
  private line = Line.Field;
  private field: number[] = [];
  private fieldOverflow = false;
  private afterColon = false; // at the first byte of a value (a single leading space is dropped)
  private name: number[] = [];
  private hasData = false;
  private scanning = true;
  private cr = false;
  private fields: Fields = new Map();
  private scanner: JsonScanner;
  // Next LF / CR in the current buffer (buffer length when none), cached so finding line
  // ends stays linear even when the buffer has no CR at all.
  private eolBuf: Buffer | undefined;
  private nextLf = 0;
  private nextCr = 0;

  constructor(private it: Interpreter) {
    this.scanner = new JsonScanner(trie(it.ssePaths), (p, v) => this.fields.set(p, v));
  }

  private eventName(): string | undefined {
    return this.name.length ? Buffer.from(this.name).toString("utf8") : undefined;
  }

  private dispatch(): void {
    if (this.hasData && this.scanning) {
      this.scanner.finish();
      try {
        this.it.event(this.eventName(), this.fields);
      } catch {
        /* never let a parse affect the stream */
      }
    }
    this.fields.clear();
    this.scanner.reset();
    this.name.length = 0;
    this.hasData = false;
    this.scanning = true;
  }

  private endLine(): void {
    if (this.line === Line.Field) {
      // A line with no colon: an empty line dispatches; a bare field name has an empty value.
      if (this.field.length === 0 && !this.fieldOverflow) this.dispatch();
      else if (!this.fieldOverflow && Buffer.from(this.field).toString("latin1") === "data") this.startData();
    }
    this.line = Line.Field;
    this.field.length = 0;
    this.fieldOverflow = false;
  }

  private startData(): void {
    if (this.hasData) {
      if (this.scanning) this.scanner.write(NEWLINE); // data lines join with "\n"
    } else {
      this.hasData = true;
      const n = this.eventName();
      this.scanning = !this.it.sseEvents || n === undefined || this.it.sseEvents.has(n);
    }
  }

  write(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      const c = buf[i]!;
      if (this.cr) {
        this.cr = false;
        if (c === 0x0a) {
          i++;
          continue;
        }
      }
      if (c === 0x0a || c === 0x0d) {
        this.cr = c === 0x0d;
        this.endLine();
        i++;
        continue;
      }
      switch (this.line) {
        case Line.Field:
          if (c === 0x3a) {
            const f = this.fieldOverflow ? "" : Buffer.from(this.field).toString("latin1");
            if (f === "data") {
              this.startData();
              this.line = Line.Data;
            } else if (f === "event") {
              this.name.length = 0;
              this.line = Line.Event;
            } else this.line = Line.Skip; // comment (empty name), id, retry, unknown
            this.afterColon = true;
          } else if (this.field.length < 16) this.field.push(c);
          else this.fieldOverflow = true;
          i++;
          break;
        case Line.Event:
          if (!(this.afterColon && c === 0x20) && this.name.length < 128) this.name.push(c);
          this.afterColon = false;
          i++;
          break;
        case Line.Skip:
          i = this.lineEnd(buf, i);
          break;
        case Line.Data: {
          let s = i;
          if (this.afterColon) {
            this.afterColon = false;
            if (c === 0x20) s++;
          }
          const e = this.lineEnd(buf, s);
          if (this.scanning && e > s) this.scanner.write(buf, s, e);
          i = e;
          break;
        }
      }
    }
  }

  private lineEnd(buf: Buffer, i: number): number {
    if (this.eolBuf !== buf) {
      this.eolBuf = buf;
      this.nextLf = this.nextCr = -1;
    }
    if (this.nextLf < i) {
      const x = buf.indexOf(0x0a, i);
      this.nextLf = x < 0 ? buf.length : x;
    }
    if (this.nextCr < i) {
      const x = buf.indexOf(0x0d, i);
      this.nextCr = x < 0 ? buf.length : x;
    }
    return Math.min(this.nextLf, this.nextCr);
  }

  end(): void {
    // A stream cut off without its final blank line still counts what it carried.
    if (this.line !== Line.Field || this.field.length) this.endLine();
    if (this.hasData) this.dispatch();
  }
}

const NEWLINE = Buffer.from("\n");

// --- public factories ----------------------------------------------------------------

function interpreter(api: string): Interpreter | undefined {
  switch (api) {
    case "anthropic-messages":
      return anthropic();
    case "openai-chat":
      return openaiChat();
    case "openai-responses":
      return openaiResponses();
    case "google-generative-ai":
      return gemini();
    default:
      return undefined;
  }
}

const EMPTY: ModelUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reported: false }) as ModelUsage;

/**
 * A tap for one model response. `contentType` picks SSE (text/event-stream) or JSON;
 * anything else is sniffed from the first byte. A compressed response (`contentEncoding`
 * other than identity) cannot be read incrementally and yields zeros, so the gateway should
 * send `accept-encoding: identity` upstream. Unknown APIs give a tap that only returns zeros.
 */
export function createUsageTap(api: UsageApi | string | undefined, contentType?: string, contentEncoding?: string): UsageTap {
  const it = api ? interpreter(api) : undefined;
  const enc = contentEncoding?.trim().toLowerCase();
  if (!it || (enc && enc !== "identity")) return { write() {}, end: () => ({ ...EMPTY }) };
  const ct = (contentType ?? "").toLowerCase();
  let mode: "sse" | "json" | undefined = ct.includes("event-stream") ? "sse" : ct.includes("json") ? "json" : undefined;
  let sse: SseTap | undefined;
  let json: JsonScanner | undefined;
  const fields: Fields = new Map();
  const start = (m: "sse" | "json") => {
    mode = m;
    if (m === "sse") sse = new SseTap(it);
    else json = new JsonScanner(trie(it.jsonPaths), (p, v) => fields.set(p, v));
  };
  if (mode) start(mode);
  let done: ModelUsage | undefined;
  return {
    write(chunk) {
      if (done) return;
      if (!mode) {
        // Sniff: a JSON body starts with "{" or "[" (after whitespace); anything else is treated as SSE.
        let k = 0;
        while (k < chunk.length && isWs(chunk[k]!)) k++;
        if (k === chunk.length) return; // all whitespace so far; JSON tolerates losing it
        start(chunk[k] === 0x7b || chunk[k] === 0x5b ? "json" : "sse");
      }
      if (sse) sse.write(chunk);
      else json!.write(chunk);
    },
    end() {
      if (done) return { ...done };
      if (sse) sse.end();
      if (json) {
        json.finish();
        try {
          it.json(fields);
        } catch {
          /* zeros */
        }
      }
      done = it.result();
      return { ...done };
    },
  };
}

export interface RequestInfo {
  model?: string;
  stream?: boolean;
}

export interface RequestTap {
  write(chunk: Buffer): void;
  end(): RequestInfo;
}

/**
 * Reads the top-level `model` and `stream` of a JSON request body as it streams past
 * (harnesses call several models; Claude Code uses a small one for side tasks). A body
 * with a content-encoding (Codex may compress its requests) is not read.
 */
export function createRequestTap(contentEncoding?: string): RequestTap {
  const enc = contentEncoding?.trim().toLowerCase();
  if (enc && enc !== "identity") return { write() {}, end: () => ({}) };
  const info: RequestInfo = {};
  const scanner = new JsonScanner(trie(["model", "stream"]), (p, v) => {
    if (p === "model" && typeof v === "string" && v) info.model = v;
    else if (p === "stream" && typeof v === "boolean") info.stream = v;
  });
  return {
    write: (chunk) => scanner.write(chunk),
    end() {
      scanner.finish();
      return { ...info };
    },
  };
}
