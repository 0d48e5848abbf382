/**
 * The live progress line on stderr. On a terminal it is rewritten in place every second (carriage
 * return, then clear to end of line); otherwise (a pipe, a log file) a full line is written every
 * five seconds. The rate is measured over the last RATE_WINDOW_MS of acknowledgements.
 */

export interface ProgressSnapshot {
  generated: number;
  sent: number;
  retried: number;
  throttles: number;
  errors: number;
  buffered: number;
}

export interface ProgressOptions {
  write: (text: string) => void;
  isTTY: boolean;
  snapshot: () => ProgressSnapshot;
  now?: () => number;
  /** How often a sample is taken (and, on a terminal, the line redrawn). */
  tickMs?: number;
  /** How often a line is written when not on a terminal. */
  lineEveryMs?: number;
}

export const RATE_WINDOW_MS = 5_000;

export class Progress {
  #opts: Required<ProgressOptions>;
  #samples: { t: number; sent: number }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastLineAt = -Infinity;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#opts = { now: Date.now, tickMs: 1_000, lineEveryMs: 5_000, ...options };
  }

  start(): void {
    const t = this.#opts.now();
    this.#samples.push({ t, sent: this.#opts.snapshot().sent });
    this.#lastLineAt = t;
    this.#timer = setInterval(() => this.tick(), this.#opts.tickMs);
    this.#timer.unref();
  }

  /** Takes a sample and draws or writes the line when due. Public for tests. */
  tick(): void {
    const t = this.#opts.now();
    const snap = this.#opts.snapshot();
    this.#samples.push({ t, sent: snap.sent });
    // Keep one sample at or beyond the window's start, so the rate spans the full window.
    while (this.#samples.length > 2 && this.#samples[1]!.t <= t - RATE_WINDOW_MS) this.#samples.shift();
    const line = formatProgress(snap, this.rate());
    if (this.#opts.isTTY) {
      this.#opts.write(`\r${line}\x1b[K`);
      this.#drawn = true;
    } else if (t - this.#lastLineAt >= this.#opts.lineEveryMs) {
      this.#opts.write(line + '\n');
      this.#lastLineAt = t;
    }
  }

  /** Acknowledged events per second over the last RATE_WINDOW_MS (or since start). */
  rate(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.t <= first.t) return 0;
    return ((last.sent - first.sent) * 1000) / (last.t - first.t);
  }

  /** Stops the timer and ends the in-place line, so what follows starts on a fresh line. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#opts.write('\n');
    this.#drawn = false;
  }
}

export function formatProgress(s: ProgressSnapshot, rate: number): string {
  return (
    `simulator: ${rate.toFixed(1)} ev/s (last ${RATE_WINDOW_MS / 1000} s) | generated ${s.generated} | sent ${s.sent}` +
    ` | retried ${s.retried} | throttles ${s.throttles} | errors ${s.errors} | waiting ${s.buffered}`
  );
}
