import { JsonScanner, trie } from "./json-scan.js";

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
