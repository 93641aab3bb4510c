/** Options of the simulator clock: `start` (unix seconds) shifts it, `frozen` stops it from following real time. */
export interface ClockOptions {
  start?: number;
  frozen?: boolean;
}

/**
 * The simulator's notion of "now". Quota windows, token expiry and reset times all read it, so tests can
 * jump hours ahead with `advance()` instead of waiting. It follows real time at an offset unless frozen.
 */
export class SimClock {
  #offsetMs = 0;
  #frozenMs: number | undefined;
  readonly #realNow: () => number;

  constructor(options: ClockOptions = {}, realNow: () => number = Date.now) {
    this.#realNow = realNow;
    if (options.start !== undefined) this.#offsetMs = options.start * 1000 - realNow();
    if (options.frozen) this.#frozenMs = realNow() + this.#offsetMs;
  }

  nowMs(): number {
    return this.#frozenMs ?? this.#realNow() + this.#offsetMs;
  }

  /** Unix seconds, whole. */
  now(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  advance(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new RangeError("seconds must be a finite number");
    if (this.#frozenMs !== undefined) this.#frozenMs += seconds * 1000;
    else this.#offsetMs += seconds * 1000;
  }

  set(unixSeconds: number): void {
    if (!Number.isFinite(unixSeconds)) throw new RangeError("unixSeconds must be a finite number");
    if (this.#frozenMs !== undefined) this.#frozenMs = unixSeconds * 1000;
    else this.#offsetMs = unixSeconds * 1000 - this.#realNow();
  }

  get frozen(): boolean {
    return this.#frozenMs !== undefined;
  }
}
