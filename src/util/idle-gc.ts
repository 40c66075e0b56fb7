import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * One full garbage collection once the server has gone quiet (no live session for
 * `delayMs`). A burst of sessions leaves tens of MiB of garbage that V8, with a large heap
 * limit and nothing allocating, may keep for minutes; the server's RSS then looks like a
 * leak to whoever watches it. Collected at a quiet moment, the pause costs no one.
 * (bench/density.ts: heap used after 200 sessions 105 MiB without, ~30 MiB with.)
 */
export class IdleCollector {
  private timer?: NodeJS.Timeout;
  private readonly gc?: () => void;

  constructor(
    private readonly delayMs: number,
    collect: () => () => void = v8Collector,
  ) {
    if (delayMs > 0) this.gc = collect();
  }

  /** Called whenever the number of live sessions changes. */
  live(count: number): void {
    if (!this.gc) return;
    if (count > 0) return this.cancel();
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.gc!();
    }, this.delayMs);
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** V8's full collection. Node has no API for one; exposing `gc` to a fresh context is the known way. */
function v8Collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
