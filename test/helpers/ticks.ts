// How well the Node event loop keeps time: a 10 ms interval's ticks against the ticks expected.
import { Worker } from 'node:worker_threads';

export const TICK_MS = 10;

export interface TickCount {
  ticks: number;
  expected: number;
}

/** Windows shorter than this say nothing about ticks: work that ends sooner is measured over this long. */
export const MIN_TICK_WINDOW_MS = 500;

/**
 * Counts 10 ms interval ticks while `work` runs (or for `work` milliseconds when given a number), over
 * at least MIN_TICK_WINDOW_MS.
 */
export async function countTicks(work: number | (() => Promise<unknown>)): Promise<TickCount> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, TICK_MS);
  const started = Date.now();
  try {
    if (typeof work === 'number') await new Promise((resolve) => setTimeout(resolve, work));
    else await work();
    const left = MIN_TICK_WINDOW_MS - (Date.now() - started);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  } finally {
    clearInterval(timer);
  }
  return { ticks, expected: Math.max(1, Math.floor((Date.now() - started) / TICK_MS)) };
}

/** ticks / expected, at most 1. */
export function tickRatio(count: TickCount): number {
  return Math.min(1, count.ticks / count.expected);
}

/**
 * The event loop's tick ratio while `work` runs, against the same measured just before it while
 * another thread of this process keeps a CPU busy, as a device's I/O thread does (these machines are
 * shared and noisy: what counts is what the work costs this loop beyond that).
 */
export async function ticksAgainstBaseline(work: () => Promise<unknown>, baselineMs = MIN_TICK_WINDOW_MS): Promise<{ busy: TickCount; baseline: TickCount; relative: number }> {
  const spinner = new Worker(`const end = Date.now() + ${baselineMs + 200}; while (Date.now() < end) {}`, { eval: true });
  const baseline = await countTicks(baselineMs);
  await spinner.terminate();
  const busy = await countTicks(work);
  return { busy, baseline, relative: tickRatio(busy) / Math.max(tickRatio(baseline), 1e-3) };
}

/**
 * Ticks counted only inside measured windows (start() ... stop()), for tests whose own driver work
 * runs on this loop between them: what counts is how this loop keeps time while only the device works.
 */
export class TickMeter {
  #ticks = 0;
  #measuredMs = 0;
  #since: number | undefined;
  readonly #timer = setInterval(() => {
    if (this.#since !== undefined) this.#ticks++;
  }, TICK_MS);

  start(): void {
    this.#since = Date.now();
  }

  /** Milliseconds measured so far, the open window included. */
  measuredMs(): number {
    return this.#measuredMs + (this.#since === undefined ? 0 : Date.now() - this.#since);
  }

  stop(): void {
    if (this.#since !== undefined) this.#measuredMs += Date.now() - this.#since;
    this.#since = undefined;
  }

  close(): TickCount {
    this.stop();
    clearInterval(this.#timer);
    return { ticks: this.#ticks, expected: Math.max(1, Math.floor(this.#measuredMs / TICK_MS)) };
  }
}
