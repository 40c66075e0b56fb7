import { JsonScanner, trie } from "./json-scan.js";
import type { Fields, Interpreter } from "./usage/interpreter.js";

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
export class SseTap {
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

  constructor(private interpreter: Interpreter) {
    this.scanner = new JsonScanner(trie(interpreter.ssePaths), (p, v) => this.fields.set(p, v));
  }

  private eventName(): string | undefined {
    return this.name.length ? Buffer.from(this.name).toString("utf8") : undefined;
  }

  private dispatch(): void {
    if (this.hasData && this.scanning) {
      this.scanner.finish();
      try {
        this.interpreter.event(this.eventName(), this.fields);
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
      this.scanning = !this.interpreter.sseEvents || n === undefined || this.interpreter.sseEvents.has(n);
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
