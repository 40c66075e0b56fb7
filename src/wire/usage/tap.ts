// Token usage from the model traffic the gateway streams, read on the fly. The gateway
// never buffers a response; these taps see the same chunks it forwards and keep only what
// they need (json-scan.ts), so a malformed body yields zeros, never an exception.

import { isWs, JsonScanner, trie } from "../json-scan.js";
import { SseTap } from "../sse-framer.js";
import type { ModelApi } from "../apis.js";
import { anthropic } from "./anthropic.js";
import { gemini } from "./gemini.js";
import type { Fields, Interpreter } from "./interpreter.js";
import { openaiChat } from "./openai-chat.js";
import { openaiResponses } from "./openai-responses.js";
import type { ModelUsage, UsageTap } from "./types.js";

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
export function createUsageTap(api: ModelApi | string | undefined, contentType?: string, contentEncoding?: string): UsageTap {
  const reader = api ? interpreter(api) : undefined;
  const enc = contentEncoding?.trim().toLowerCase();
  if (!reader || (enc && enc !== "identity")) return { write() {}, end: () => ({ ...EMPTY }) };
  const ct = (contentType ?? "").toLowerCase();
  let mode: "sse" | "json" | undefined = ct.includes("event-stream") ? "sse" : ct.includes("json") ? "json" : undefined;
  let sse: SseTap | undefined;
  let json: JsonScanner | undefined;
  const fields: Fields = new Map();
  const start = (m: "sse" | "json") => {
    mode = m;
    if (m === "sse") sse = new SseTap(reader);
    else json = new JsonScanner(trie(reader.jsonPaths), (p, v) => fields.set(p, v));
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
          reader.json(fields);
        } catch {
          /* zeros */
        }
      }
      done = reader.result();
      return { ...done };
    },
  };
}
