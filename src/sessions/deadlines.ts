// Turn deadlines: a turn that stops making progress must end on its own, or a harness
// stuck in a loop (or waiting on a model that never answers) holds its sandbox forever.
// Time spent waiting for a person (a pending `ask` permission) does not count: a turn
// parked on a human is not stuck. A wait nobody answered (the permission timed out) does
// count against the whole-turn limit, so a harness that keeps re-asking cannot hold its
// sandbox forever across repeated permission timeouts.

/** Limits in milliseconds of active time; an absent limit does not apply. */
export interface DeadlineLimits {
  /** The whole turn. */
  turnMs?: number;
  /** Without any event from the turn. */
  idleMs?: number;
  /** From the start of the turn to its first event. */
  firstEventMs?: number;
}

export type DeadlineKind = "turn" | "idle" | "first_event";

/** The stop reason a turn ends with when a deadline passes: it says which one. */
export const DEADLINE_STOP_REASONS: Record<DeadlineKind, string> = {
  turn: "turn_timeout",
  idle: "idle_timeout",
  first_event: "first_event_timeout",
};

/**
 * A turn's clock of active time (wall time minus pauses), and which deadline, if any, it
 * has passed. Pure: every method takes the current time, so tests drive it directly.
 */
export class TurnClock {
  /** Active time accumulated before `since`. */
  private banked = 0;
  /** Wall time the clock last started running; undefined while paused. */
  private since: number | undefined;
  private pauses = 0;
  /** Active time at the turn's last event; undefined before its first. */
  private lastEvent: number | undefined;
  /** Paused time charged back to the whole-turn limit (unanswered permission waits). */
  private charged = 0;

  constructor(
    readonly limits: DeadlineLimits,
    now: number,
  ) {
    this.since = now;
  }

  private active(now: number): number {
    return this.banked + (this.since === undefined ? 0 : now - this.since);
  }

  get paused(): boolean {
    return this.pauses > 0;
  }

  /** Records progress; true for the turn's first event (the idle limit takes over from the first-event one). */
  event(now: number): boolean {
    const first = this.lastEvent === undefined;
    this.lastEvent = this.active(now);
    return first;
  }

  /** Pauses nest: the clock runs again when every pause has ended. */
  pause(now: number): void {
    if (this.pauses++ === 0) {
      this.banked = this.active(now);
      this.since = undefined;
    }
  }

  resume(now: number): void {
    if (this.pauses === 0) return;
    if (--this.pauses === 0) this.since = now;
  }

  /** Counts `ms` of paused time against the whole-turn limit only. */
  charge(ms: number): void {
    this.charged += Math.max(0, ms);
  }

  /** Active time left before each applicable deadline (negative: passed). */
  private remaining(now: number): [DeadlineKind, number][] {
    const t = this.active(now);
    const { turnMs, idleMs, firstEventMs } = this.limits;
    const out: [DeadlineKind, number][] = [];
    if (turnMs !== undefined) out.push(["turn", turnMs - t - this.charged]);
    if (this.lastEvent === undefined && firstEventMs !== undefined) out.push(["first_event", firstEventMs - t]);
    // Before the first event the first-event limit governs when there is one.
    else if (idleMs !== undefined) out.push(["idle", idleMs - (t - (this.lastEvent ?? 0))]);
    return out;
  }

  /** The deadline that has passed at `now`, if any (the earliest-passing one). */
  expired(now: number): DeadlineKind | undefined {
    let worst: [DeadlineKind, number] | undefined;
    for (const r of this.remaining(now)) if (r[1] <= 0 && (!worst || r[1] < worst[1])) worst = r;
    return worst?.[0];
  }

  /** Wall milliseconds until a deadline could pass; Infinity while paused or with none. */
  nextCheckIn(now: number): number {
    if (this.paused) return Infinity;
    let min = Infinity;
    for (const [, left] of this.remaining(now)) min = Math.min(min, left);
    return Math.max(0, min);
  }

  limitOf(kind: DeadlineKind): number {
    return (kind === "turn" ? this.limits.turnMs : kind === "idle" ? this.limits.idleMs : this.limits.firstEventMs) ?? 0;
  }
}

/**
 * A session's limits from what it asked for and the server's: each server value is the
 * default and the ceiling (0 there: no such deadline unless the session asks for one).
 * Returns the name of a limit asked above its ceiling, for the caller's error.
 */
export function effectiveDeadlines(
  asked: DeadlineLimits | undefined,
  server: DeadlineLimits,
): { limits: DeadlineLimits } | { over: keyof DeadlineLimits; max: number } {
  const limits: DeadlineLimits = {};
  for (const k of ["turnMs", "idleMs", "firstEventMs"] as const) {
    const cap = server[k] || undefined;
    const want = asked?.[k];
    if (want !== undefined && cap !== undefined && want > cap) return { over: k, max: cap };
    const v = want ?? cap;
    if (v !== undefined) limits[k] = v;
  }
  return { limits };
}

/** The server's limits as a session's when it asked for none (0 there: no such deadline). */
export function serverDeadlines(server: DeadlineLimits): DeadlineLimits {
  const out: DeadlineLimits = {};
  for (const k of ["turnMs", "idleMs", "firstEventMs"] as const) if (server[k]) out[k] = server[k];
  return out;
}

/**
 * A running turn's deadlines on the wall clock: one timer, re-armed only when it fires or
 * when the shortest limit may have moved nearer (the first event, a pause ending), so a
 * busy turn's events just move a number. Calls `onPassed` once, with the deadline and its
 * limit; after that, or after stop(), it does nothing.
 */
export class DeadlineWatch {
  private readonly clock: TurnClock;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    limits: DeadlineLimits,
    private readonly onPassed: (kind: DeadlineKind, limitMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.clock = new TurnClock(limits, now());
    this.arm();
  }

  /** Progress: an event of the turn. */
  event(): void {
    if (!this.done && this.clock.event(this.now())) this.arm();
  }

  /**
   * A wait for a person begins (a pending `ask` permission). Returns its end: told who
   * settled it, it charges an unanswered wait (a timeout) to the whole-turn limit.
   */
  waitForPerson(): (settledBy: string) => void {
    const asked = this.now();
    this.clock.pause(asked);
    this.arm();
    return (by) => {
      const now = this.now();
      if (by === "timeout") this.clock.charge(now - asked);
      this.clock.resume(now);
      this.arm();
    };
  }

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.done) return;
    const wait = this.clock.nextCheckIn(this.now());
    if (wait === Infinity) return;
    this.timer = setTimeout(() => {
      if (this.done) return;
      const passed = this.clock.expired(this.now());
      if (!passed) return this.arm();
      this.stop();
      this.onPassed(passed, this.clock.limitOf(passed));
    }, wait + 1);
    this.timer.unref();
  }
}
