// Bounds on time and size that several places apply: each says its own error.
import { Transform } from "node:stream";
import type { BerthError } from "./errors.js";

/** `p`, or the error `late()` makes once `ms` have passed first (the timer is always cleared). */
export function withDeadline<T>(p: Promise<T>, ms: number, late: () => BerthError): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(late()), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Passes at most `max` bytes; past that, the stream fails with `over()`. */
export function byteLimit(max: number, over: () => BerthError): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (n > max) return cb(over());
      cb(null, chunk);
    },
  });
}
