// A byte-level JSON scanner for model traffic read on the fly: it walks each body (or each
// SSE event's data) and materialises nothing but a handful of whitelisted fields (model,
// usage counts, finish reasons), so memory stays constant whatever the size of the response,
// chunk boundaries can fall anywhere (inside a UTF-8 character, an SSE line, a JSON token),
// and a malformed body yields no captures, never an exception.

export interface Trie {
  children?: Map<string, Trie>;
  /** Matches any array index or object key ("*" in a path). */
  any?: Trie;
  leaf?: boolean;
}

export function trie(paths: string[]): Trie {
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

export type Scalar = string | number | boolean | null;

interface Frame {
  node: Trie | undefined;
  arr: boolean;
  key: string | undefined;
  idx: number;
}

const enum ScanState {
  Value,
  Key,
  Str,
  Atom,
  Dead,
}

const MAX_DEPTH = 256;
const MAX_CAPTURE = 512; // bytes of one captured string (model names, reasons)
const MAX_KEY = 128;

export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x74: 0x09, 0x72: 0x0d, 0x62: 0x08, 0x66: 0x0c };

/**
 * A streaming, allocation-light JSON walker: it tokenizes every byte but keeps only the
 * values whose path is in `want`, and only a bounded prefix of each. Not a validator:
 * malformed input just produces no (or partial) captures.
 */
export class JsonScanner {
  private frames: Frame[] = [];
  private st = ScanState.Value;
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
    this.st = ScanState.Value;
    this.esc = 0;
    this.cap = false;
    this.blen = 0;
  }

  /** Finishes a pending top-level atom (a body that is a bare number). */
  finish(): void {
    if (this.st === ScanState.Atom) this.endAtom();
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
    this.st = ScanState.Value;
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
    this.st = ScanState.Value;
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
      if (this.st === ScanState.Str && this.esc === 0 && !this.cap) {
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
        case ScanState.Dead:
          return;
        case ScanState.Str:
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
        case ScanState.Atom:
          if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x3a || isWs(c)) {
            this.endAtom();
            break; // the delimiter is structural: handle it below
          }
          if (this.cap && this.blen < 64) this.bytes[this.blen++] = c;
          continue;
        case ScanState.Key:
        case ScanState.Value:
          break; // between tokens: the character is structural, handled below
      }
      if (isWs(c)) continue;
      switch (c) {
        case 0x7b: // {
        case 0x5b: {
          // [
          if (this.frames.length >= MAX_DEPTH) {
            this.st = ScanState.Dead;
            return;
          }
          const node = this.valueNode();
          this.frames.push({ node, arr: c === 0x5b, key: undefined, idx: 0 });
          this.st = c === 0x7b ? ScanState.Key : ScanState.Value;
          break;
        }
        case 0x7d: // }
        case 0x5d: // ]
          this.frames.pop();
          this.st = ScanState.Value;
          break;
        case 0x22: {
          // "
          if (this.st === ScanState.Key) {
            this.strKey = true;
            this.cap = this.frames[this.frames.length - 1]?.node !== undefined;
          } else {
            this.strKey = false;
            this.cap = this.valueNode()?.leaf === true;
          }
          this.blen = 0;
          this.st = ScanState.Str;
          break;
        }
        case 0x3a: // :
          this.st = ScanState.Value;
          break;
        case 0x2c: {
          // ,
          const top = this.frames[this.frames.length - 1];
          if (top?.arr) {
            top.idx++;
            this.st = ScanState.Value;
          } else if (top) {
            top.key = undefined;
            this.st = ScanState.Key;
          }
          break;
        }
        default:
          this.cap = this.valueNode()?.leaf === true;
          this.blen = 0;
          if (this.cap) this.bytes[this.blen++] = c;
          this.st = ScanState.Atom;
      }
    }
  }
}
