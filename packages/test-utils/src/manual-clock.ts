/** A timer of {@link ManualClock}. */
interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when a test says so: the `Clock` of @gale/io (and of the apps' timers),
 * with `advance(ms)` running every timer that falls due, in time order, synchronously. Tests step
 * heartbeats, expiries, backoff, close and drain timers with it instead of waiting on the wall
 * clock, so a busy machine cannot change their outcome.
 */
export class ManualClock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer: ManualTimer = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: unknown): void {
    if (timer === undefined || timer === null) return;
    const t = timer as ManualTimer;
    t.cancelled = true;
    const index = this.#timers.indexOf(t);
    if (index !== -1) this.#timers.splice(index, 1);
  }

  /** Timers that have not fired and were not cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, running each timer due by then at its own time, earliest first
   * (timers set by those callbacks run too if they fall due within the step).
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.#timers) {
        if (timer.at > end) continue;
        if (
          next === undefined ||
          timer.at < next.at ||
          (timer.at === next.at && timer.seq < next.seq)
        ) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.callback();
    }
    this.#now = end;
  }

  /** Moves time to the next timer and runs it (and any due at the same time); false if none. */
  runNext(): boolean {
    let next: ManualTimer | undefined;
    for (const timer of this.#timers) if (next === undefined || timer.at < next.at) next = timer;
    if (next === undefined) return false;
    this.advance(next.at - this.#now);
    return true;
  }
}
