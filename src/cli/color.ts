import type { WriteStream } from "node:tty";

/**
 * Whether to colour what goes to `stream`, decided per stream: FORCE_COLOR (not "0") forces
 * it, NO_COLOR (any value) turns it off, otherwise a terminal that supports colours gets them.
 * So `berth ... | less` has plain stdout while its stderr on the terminal stays coloured.
 */
export function colorFor(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const tty = stream as Partial<WriteStream>;
  return Boolean(tty.isTTY && (tty.hasColors?.() ?? true));
}

export function painter(enabled: boolean) {
  const c = (code: string) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { dim: c("2"), bold: c("1"), red: c("31"), green: c("32"), yellow: c("33") };
}

/** For stderr lines (status, hints, errors). */
export const err = painter(colorFor(process.stderr));
