import { afterEach, describe, expect, it, vi } from "vitest";
import { DeadlineWatch, effectiveDeadlines, serverDeadlines, TurnClock } from "../../src/sessions/deadlines.js";

describe("TurnClock", () => {
  it("passes the first-event deadline when nothing arrives, then the idle one after an event", () => {
    const c = new TurnClock({ firstEventMs: 1000, idleMs: 500 }, 0);
    expect(c.nextCheckIn(0)).toBe(1000);
    expect(c.expired(999)).toBeUndefined();
    expect(c.expired(1000)).toBe("first_event");
    const d = new TurnClock({ firstEventMs: 1000, idleMs: 500 }, 0);
    // The first event says so (its caller re-arms the timer: idle may now be sooner).
    expect(d.event(800)).toBe(true);
    expect(d.event(800)).toBe(false);
    expect(d.expired(1200)).toBeUndefined();
    expect(d.nextCheckIn(1200)).toBe(100);
    expect(d.expired(1300)).toBe("idle");
  });

  it("applies the idle limit from the start when there is no first-event limit", () => {
    const c = new TurnClock({ idleMs: 300 }, 100);
    expect(c.expired(399)).toBeUndefined();
    expect(c.expired(400)).toBe("idle");
  });

  it("keeps the total limit whatever the events", () => {
    const c = new TurnClock({ turnMs: 1000, idleMs: 400 }, 0);
    for (let t = 0; t < 1000; t += 100) c.event(t);
    expect(c.expired(999)).toBeUndefined();
    expect(c.expired(1000)).toBe("turn");
  });

  it("does not count paused time, and pauses nest", () => {
    const c = new TurnClock({ turnMs: 1000, idleMs: 500 }, 0);
    c.event(100);
    c.pause(200);
    c.pause(300);
    expect(c.nextCheckIn(5000)).toBe(Infinity);
    expect(c.expired(10_000)).toBeUndefined();
    c.resume(10_000);
    expect(c.paused).toBe(true);
    c.resume(20_000);
    // Active so far: 200 ms; last event at 100 ms active; idle passes 400 ms of active time later.
    expect(c.expired(20_399)).toBeUndefined();
    expect(c.expired(20_400)).toBe("idle");
    c.resume(30_000); // an unmatched resume changes nothing
    expect(c.paused).toBe(false);
  });

  it("charges an unanswered wait to the whole-turn limit only, so repeated permission timeouts end the turn", () => {
    const c = new TurnClock({ turnMs: 1000, idleMs: 500 }, 0);
    // Three waits of 400 ms that nobody answered, each followed by a fresh event.
    let now = 0;
    for (let i = 0; i < 3; i++) {
      c.pause(now);
      now += 400;
      c.event(now);
      c.charge(400);
      c.resume(now);
    }
    // No active time passed, and idle never did (events after each wait)...
    expect(c.expired(now)).toBe("turn");
    // ...whereas answered waits cost nothing.
    const d = new TurnClock({ turnMs: 1000 }, 0);
    d.pause(0);
    d.resume(5000);
    expect(d.expired(5000)).toBeUndefined();
  });

  it("reports the earliest-passed deadline when several have passed", () => {
    const c = new TurnClock({ turnMs: 1000, idleMs: 200 }, 0);
    c.event(0);
    expect(c.expired(5000)).toBe("idle");
    expect(c.limitOf("idle")).toBe(200);
    expect(c.limitOf("turn")).toBe(1000);
    expect(c.limitOf("first_event")).toBe(0);
  });

  it("has nothing to check without limits", () => {
    const c = new TurnClock({}, 0);
    expect(c.nextCheckIn(0)).toBe(Infinity);
    expect(c.expired(1e12)).toBeUndefined();
  });
});

describe("effectiveDeadlines", () => {
  const server = { turnMs: 10_000, idleMs: 5000, firstEventMs: 0 };
  it("takes the server's values as defaults, 0 meaning none", () => {
    expect(effectiveDeadlines(undefined, server)).toEqual({ limits: { turnMs: 10_000, idleMs: 5000 } });
  });
  it("lets a session ask for less, or for a limit the server leaves open", () => {
    expect(effectiveDeadlines({ idleMs: 2000, firstEventMs: 99_000 }, server)).toEqual({ limits: { turnMs: 10_000, idleMs: 2000, firstEventMs: 99_000 } });
  });
  it("refuses more than the server's ceiling, naming the limit", () => {
    expect(effectiveDeadlines({ turnMs: 10_001 }, server)).toEqual({ over: "turnMs", max: 10_000 });
  });
});

describe("serverDeadlines", () => {
  it("is the server's limits without the ones set to 0", () => {
    expect(serverDeadlines({ turnMs: 5000, idleMs: 0, firstEventMs: 2000 })).toEqual({ turnMs: 5000, firstEventMs: 2000 });
  });
});

describe("DeadlineWatch", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires once, with the deadline and its limit, when the first event never comes; events after the first move the idle deadline", () => {
    vi.useFakeTimers();
    const passed: [string, number][] = [];
    const w = new DeadlineWatch({ firstEventMs: 1000, idleMs: 300 }, (k, ms) => passed.push([k, ms]));
    vi.advanceTimersByTime(500);
    w.event(); // the first: idle (300 ms) now governs, sooner than the first-event timer
    vi.advanceTimersByTime(250);
    w.event();
    vi.advanceTimersByTime(250);
    expect(passed).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(passed).toEqual([["idle", 300]]);
    vi.advanceTimersByTime(10_000);
    expect(passed).toHaveLength(1);
  });

  it("does not count a wait answered by a person, charges one that timed out, and does nothing once stopped", () => {
    vi.useFakeTimers();
    const passed: string[] = [];
    const w = new DeadlineWatch({ turnMs: 1000 }, (k) => passed.push(k));
    const answered = w.waitForPerson();
    vi.advanceTimersByTime(5000);
    answered("client");
    expect(passed).toEqual([]);
    const unanswered = w.waitForPerson();
    vi.advanceTimersByTime(900);
    unanswered("timeout");
    vi.advanceTimersByTime(150);
    expect(passed).toEqual(["turn"]);
    const s = new DeadlineWatch({ turnMs: 100 }, (k) => passed.push(k));
    s.stop();
    vi.advanceTimersByTime(1000);
    expect(passed).toEqual(["turn"]);
  });
});
