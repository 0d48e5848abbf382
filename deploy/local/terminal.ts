/**
 * What `npm start` prints: its components' log lines, readable in a terminal, and a status line
 * of the whole pipeline every few seconds.
 *
 * The components log JSON (pino, common/src/log.ts), the right format for files and containers
 * and the wrong one for a person watching a terminal. In a terminal each JSON line is shown by
 * pino-pretty as time, level, [component], message and the other fields on one line; elsewhere the
 * lines stay JSON, prefixed with the component's name, as they always were (scripts parse them).
 *
 * The status line is computed from the processors' /metrics, scraped by the supervisor: the
 * numbers a person would otherwise look up on each processor (payments/s, alerts, summaries,
 * rejects, how far behind), summed or maxed over the fleet, and a processor that does not answer
 * named as down.
 */
import { prettyFactory } from 'pino-pretty';
import { prometheusSamples, type Sample } from '../../common/src/prom-text.js';

// ---------------------------------------------------------------------------------------------
// Log lines

export interface LineFormatOptions {
  /** Readable lines (a terminal) rather than the components' JSON (files, pipes, containers). */
  pretty: boolean;
  /** ANSI colours; only ever with `pretty`. Default: pino-pretty's guess (stdout a colour TTY, no NO_COLOR). */
  colorize?: boolean;
}

// Every C0 and C1 control character and the Unicode line separators: in a value they would end the
// line early or, through an escape sequence, rewrite the terminal (a payment's merchant name or a
// rejected record quoted in a log field is text from outside).
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  });
}

/** A copy of a parsed JSON value with every control character in its strings and keys escaped. */
function withoutControl(value: unknown): unknown {
  if (typeof value === 'string') return escapeControl(value);
  if (Array.isArray(value)) return value.map(withoutControl);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeControl(k), withoutControl(v)]));
  }
  return value;
}

/** Whether a parsed line is one of pino's: an object with a numeric level and a time. */
function isPinoRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && typeof (value as { level?: unknown }).level === 'number' && 'time' in value;
}

/**
 * Returns how a line a component printed is shown: `[name] line` as printed (not pretty, or not a
 * pino record), or one readable line, `[HH:MM:ss.l] LEVEL: [name] message {other fields}`.
 */
export function createLineFormatter(options: LineFormatOptions): (name: string, line: string) => string {
  if (!options.pretty) return (name, line) => `[${name}] ${line}`;
  const pretty = prettyFactory({
    colorize: options.colorize,
    singleLine: true,
    // Local time of day: the date is today's, and the person reading is in this time zone.
    translateTime: 'SYS:HH:MM:ss.l',
    // The component is the name start gave it (processor-2, not processor); pid and hostname say nothing here.
    ignore: 'pid,hostname,component,name,name_in_start',
    // An error's stack as part of the one line, like every other field, not as an indented block.
    errorLikeObjectKeys: [],
    messageFormat: (log, messageKey) => `[${String(log.name_in_start)}] ${log[messageKey] === undefined ? '' : String(log[messageKey])}`,
  });
  return (name, line) => {
    let parsed: unknown;
    try {
      parsed = line.startsWith('{') ? JSON.parse(line) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!isPinoRecord(parsed)) return `[${name}] ${line}`;
    const record = withoutControl(parsed) as Record<string, unknown>;
    // Set last, so that a field of that name in the record cannot pass for another component; it
    // is left out of the fields by the `ignore` above.
    return pretty({ ...record, name_in_start: name }).replace(/\n$/, '');
  };
}

// ---------------------------------------------------------------------------------------------
// The status line

/** What the status line takes from one processor's /metrics. Counters since that process started. */
export interface ProcessorCounters {
  payments: number;
  alerts: number;
  summaries: number;
  rejects: number;
  /** The largest watermark lag or behind-the-tip of its shards, ms; null when it owns no shard yet. */
  maxLagMs: number | null;
  /** The shards it owns now (their lags are the ones above). */
  shards: string[];
}

export type Scrape = { name: string; up: true; counters: ProcessorCounters } | { name: string; up: false; error: string };

const sum = (samples: Sample[], name: string, where: (s: Sample) => boolean = () => true) =>
  samples.filter((s) => s.name === name && where(s)).reduce((n, s) => n + s.value, 0);

/** The status line's numbers from a processor's metrics (the names are in docs/metrics.md). */
export function countersOf(samples: Sample[]): ProcessorCounters {
  const lags = samples
    .filter((s) => s.name === 'payments_shard_watermark_lag_seconds' || s.name === 'payments_shard_behind_latest_seconds')
    .map((s) => s.value * 1000)
    .filter(Number.isFinite);
  return {
    payments: sum(samples, 'payments_records_read_total', (s) => s.labels.event_type === 'PAYMENT_EVENT'),
    alerts: sum(samples, 'payments_alerts_emitted_total'),
    summaries: sum(samples, 'payments_summaries_emitted_total'),
    rejects: sum(samples, 'payments_records_rejected_total'),
    maxLagMs: lags.length > 0 ? Math.max(...lags) : null,
    // One sample per owned shard, whatever its state (a shard without a watermark yet has no lag).
    shards: samples
      .filter((s) => s.name === 'payments_shard_stuck')
      .map((s) => s.labels.shard ?? '')
      .sort(),
  };
}

/** Scrapes one processor's /metrics; any failure (refused, timeout, not 200, unparsable) is "down". */
export async function scrapeProcessor(name: string, baseUrl: string, timeoutMs = 2000): Promise<Scrape> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { name, up: false, error: `HTTP ${res.status}` };
    return { name, up: true, counters: countersOf(prometheusSamples(await res.text())) };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    return { name, up: false, error: e.cause?.code ?? (e.name === 'TimeoutError' ? 'timeout' : e.message) };
  }
}

type Counted = 'payments' | 'alerts' | 'summaries' | 'rejects';
const COUNTED: Counted[] = ['payments', 'alerts', 'summaries', 'rejects'];

/**
 * The status line from one scrape of every processor to the next. Counters are per process: a
 * processor's increase is its counter minus the one last seen, or the whole counter when it went
 * down (the process restarted and counts from 0 again, as Prometheus' rate() reads a reset), so
 * neither the rate nor the totals ever go backwards. A processor that did not answer keeps its last
 * scrape, and its next increase is spread over the whole time since. Totals are since `startMs`.
 */
export class StatusLine {
  readonly #last = new Map<string, { atMs: number; counters: Record<Counted, number> }>();
  readonly #totals: Record<Counted, number> = { payments: 0, alerts: 0, summaries: 0, rejects: 0 };
  readonly #startMs: number;
  readonly #streamShards: number | undefined;

  /**
   * `startMs`: when the processors started, their counters at 0. `streamShards`: the stream's open
   * shards, to show how many are owned: the max lag covers owned shards only, so a shard nobody
   * reads (its processor died, its lease not yet expired) shows there, not in the lag.
   */
  constructor(startMs: number, streamShards?: number) {
    this.#startMs = startMs;
    this.#streamShards = streamShards;
  }

  next(scrapes: readonly Scrape[], nowMs: number): string {
    const interval: Record<Counted, number> = { payments: 0, alerts: 0, summaries: 0, rejects: 0 };
    let paymentsPerSecond = 0;
    let maxLagMs: number | null = null;
    const owned = new Set<string>();
    for (const scrape of scrapes) {
      if (!scrape.up) continue;
      for (const shard of scrape.counters.shards) owned.add(shard);
      const last = this.#last.get(scrape.name) ?? { atMs: this.#startMs, counters: { payments: 0, alerts: 0, summaries: 0, rejects: 0 } };
      const increase = (k: Counted) => (scrape.counters[k] >= last.counters[k] ? scrape.counters[k] - last.counters[k] : scrape.counters[k]);
      for (const k of COUNTED) interval[k] += increase(k);
      const seconds = (nowMs - last.atMs) / 1000;
      if (seconds > 0) paymentsPerSecond += increase('payments') / seconds;
      const lag = scrape.counters.maxLagMs;
      if (lag !== null) maxLagMs = Math.max(maxLagMs ?? lag, lag);
      const { payments, alerts, summaries, rejects } = scrape.counters;
      this.#last.set(scrape.name, { atMs: nowMs, counters: { payments, alerts, summaries, rejects } });
    }
    for (const k of COUNTED) this.#totals[k] += interval[k];
    const count = (k: Counted) => `+${interval[k]} (${this.#totals[k]})`;
    const down = scrapes.flatMap((s) => (s.up ? [] : [`${s.name} down (${s.error})`]));
    const up = scrapes.length - down.length;
    return [
      `${paymentsPerSecond.toFixed(1)} payments/s`,
      `alerts ${count('alerts')}`,
      `summaries ${count('summaries')}`,
      `rejects ${count('rejects')}`,
      `max lag ${maxLagMs === null ? '-' : `${(maxLagMs / 1000).toFixed(1)} s`}`,
      ...(this.#streamShards === undefined ? [] : [`shards ${owned.size}/${this.#streamShards} owned`]),
      `processors ${up}/${scrapes.length} up`,
      ...down,
    ].join('  ');
  }
}
