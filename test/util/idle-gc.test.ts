import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IdleCollector } from "../../src/util/idle-gc.js";

describe("IdleCollector", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const make = (delay = 1000) => {
    const gc = vi.fn();
    return { gc, c: new IdleCollector(delay, () => gc) };
  };

  it("collects once, delayMs after the last live session ends", () => {
    const { gc, c } = make();
    c.live(2);
    c.live(1);
    vi.advanceTimersByTime(5000);
    expect(gc).not.toHaveBeenCalled();
    c.live(0);
    c.live(0);
    vi.advanceTimersByTime(999);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(gc).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60_000);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  it("does not collect when a session starts within the delay, or after cancel()", () => {
    const { gc, c } = make();
    c.live(0);
    vi.advanceTimersByTime(500);
    c.live(1);
    vi.advanceTimersByTime(5000);
    expect(gc).not.toHaveBeenCalled();
    c.live(0);
    c.cancel();
    vi.advanceTimersByTime(5000);
    expect(gc).not.toHaveBeenCalled();
  });

  it("with delay 0 never asks for a collector", () => {
    const collect = vi.fn(() => vi.fn());
    const c = new IdleCollector(0, collect);
    c.live(0);
    vi.advanceTimersByTime(60_000);
    expect(collect).not.toHaveBeenCalled();
  });

  it("the real collector is V8's own gc", () => {
    const c = new IdleCollector(1);
    expect(typeof (c as unknown as { gc: unknown }).gc).toBe("function");
  });
});
