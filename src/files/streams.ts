import { PassThrough, type Readable } from "node:stream";

/**
 * Waits for a stream's first line (or, with `maxLine` 0, its first byte) and hands back the
 * line and a stream of everything after it. Undefined when the stream ends first: the
 * process behind it refused, and its exit code says why.
 */
export function firstLine(src: Readable, maxLine = 64): Promise<{ line: string; rest: Readable } | undefined> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = maxLine === 0 ? -1 : buf.indexOf(0x0a);
      if (maxLine !== 0 && nl < 0 && buf.length <= maxLine) return;
      src.off("data", onData).off("end", onEnd).off("close", onEnd).off("error", reject);
      src.pause();
      const line = nl < 0 ? "" : buf.subarray(0, nl).toString();
      const rest = new PassThrough();
      rest.write(nl < 0 ? buf : buf.subarray(nl + 1));
      src.pipe(rest);
      src.resume();
      resolve({ line, rest });
    };
    const onEnd = () => resolve(undefined);
    // "close" too: a stream destroyed before it ended (its process never started) ends nothing.
    src.on("data", onData).once("end", onEnd).once("close", onEnd).once("error", reject);
  });
}
