// Scanning a file's text, whole or as a stream of chunks, for credentials, with line numbers.
import { excerpt, findSecrets, fingerprint, redactSecret } from "./matcher.js";

export interface SecretFinding {
  path: string;
  line: number;
  kind: string;
  fingerprint: string;
  excerpt: string;
}

function lineAt(text: string, offset: number, from = 0, startLine = 1): number {
  let line = startLine;
  for (let i = text.indexOf("\n", from); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/** Findings in one whole text (a file read in full). */
export function scanText(path: string, text: string, opts: { latin1?: boolean } = {}): SecretFinding[] {
  let line = 1;
  let at = 0;
  return findSecrets(text).map((m) => {
    line = lineAt(text, m.start, at, line);
    at = m.start;
    return { path, line, kind: m.kind, fingerprint: fingerprint(m.value), excerpt: excerpt(text, m, 40, opts.latin1) };
  });
}

/**
 * Scans content that arrives in chunks (a file in a tar stream, a large file) without
 * holding it whole: each chunk is scanned with the tail of the previous one, so a secret
 * across a chunk boundary is found once. Bytes are decoded as latin1 (one character per
 * byte), which keeps offsets exact for binaries; the shapes are ASCII.
 */
export class ChunkScanner {
  private carry = "";
  /** Absolute offset of `carry`'s first character, and the line it is on. */
  private carryAt = 0;
  private carryLine = 1;
  private seen = new Set<string>();
  /** A match touched the end of the last chunk and waits for more text. */
  private waiting = false;
  private ended = false;
  readonly findings: SecretFinding[] = [];

  constructor(
    readonly path: string,
    /** Longest secret that must be found whole across a boundary (a 4096-bit PEM key is ~3.3 kB). */
    private overlap = 8192,
    /** Characters of context in excerpts (0 for binaries, where context is noise). */
    private context = 40,
  ) {}

  /** Adds the next chunk; `final` when it is the last (then `end()` has nothing left to do). */
  push(chunk: Buffer, final = false): void {
    if (this.ended) throw new Error("ChunkScanner: push after the end");
    this.ended = final;
    const text = this.carry + chunk.toString("latin1");
    this.waiting = false;
    for (const m of findSecrets(text)) {
      // A match that touches the end may continue in the next chunk: report it next time.
      if (!final && m.end === text.length && m.start >= text.length - this.overlap) {
        this.waiting = true;
        continue;
      }
      const key = `${this.carryAt + m.start}:${m.kind}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.findings.push({
        path: this.path,
        line: lineAt(text, m.start, 0, this.carryLine),
        kind: m.kind,
        fingerprint: fingerprint(m.value),
        excerpt: this.context ? excerpt(text, m, this.context, true) : redactSecret(m),
      });
    }
    if (final) return;
    const cut = Math.max(0, text.length - this.overlap);
    this.carryLine = lineAt(text, cut, 0, this.carryLine);
    this.carryAt += cut;
    this.carry = text.slice(cut);
  }

  end(): SecretFinding[] {
    if (!this.ended && this.waiting) this.push(Buffer.alloc(0), true);
    this.ended = true;
    return this.findings;
  }
}
