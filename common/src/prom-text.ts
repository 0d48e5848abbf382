/**
 * A small, strict parser of the Prometheus text exposition format (version 0.0.4, what prom-client
 * serves), for the tests of the metrics and for `npm start`'s status line (deploy/local/terminal.ts):
 * it throws on the first line that is not a HELP/TYPE comment or a well-formed sample, on a sample
 * without a declared family, and on a histogram whose buckets are not cumulative. No well-kept npm
 * package parses this format (prom-client only writes it).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
/** Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case; prom-client writes `Nan`. */
const VALUE = '[-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[Ii][Nn][Ff])|[Nn][Aa][Nn]';
const LABEL_PAIR = `${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
/** `name{labels} value [timestamp]`: the line format every non-comment line must match. */
export const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL_PAIR})(?:,${LABEL_PAIR})*,?)?\\})? (${VALUE})(?: (-?[0-9]+))?$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const PAIR = new RegExp(`(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`, 'g');

const unescape = (s: string) => s.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const help = HELP_LINE.exec(line);
      if (help) {
        const [, name = '', doc = ''] = help;
        if (helps.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        helps.set(name, doc);
        const f = families.get(name);
        if (f) f.help = doc;
        return;
      }
      const type = TYPE_LINE.exec(line);
      if (type) {
        const [, name = '', kind = ''] = type;
        if (families.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
        families.set(name, { name, type: kind as Family['type'], help: helps.get(name), samples: [] });
        return;
      }
      if (line.startsWith('# HELP') || line.startsWith('# TYPE')) throw new Error(`${where}: malformed HELP/TYPE`);
      return; // any other comment
    }
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`${where}: not a sample line`);
    const [, name = '', labelText = '', valueText = ''] = m;
    const labels: Record<string, string> = {};
    for (const [, k = '', v = ''] of labelText.matchAll(PAIR)) {
      if (k in labels) throw new Error(`${where}: label ${k} twice`);
      labels[k] = unescape(v);
    }
    const family = familyOf(name, families);
    if (!family) throw new Error(`${where}: sample before or without a TYPE line`);
    const lower = valueText.toLowerCase();
    const value = lower === 'nan' ? Number.NaN : lower.endsWith('inf') ? (lower.startsWith('-') ? -Infinity : Infinity) : Number(valueText);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Buckets ascend in `le`, counts never decrease, and le="+Inf" equals _count, per label set. */
function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(rest);
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      entry.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_count`) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      const [le, n] = buckets[i]!;
      const [prevLe, prevN] = buckets[i - 1]!;
      if (!(le > prevLe) || n < prevN) throw new Error(`${f.name}${key}: buckets not ascending and cumulative`);
    }
    const last = buckets.at(-1);
    if (!last || last[0] !== Infinity || last[1] !== count) throw new Error(`${f.name}${key}: le="+Inf" must equal _count`);
  }
}

/** Every sample of every family, in the order of the text. */
export function prometheusSamples(text: string): Sample[] {
  return [...parsePrometheusText(text).values()].flatMap((f) => f.samples);
}
