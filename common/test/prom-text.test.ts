/**
 * The Prometheus text parser (common/src/prom-text.ts) that the metrics tests and `npm start`'s
 * status line read /metrics with: labels with escapes, NaN as prom-client writes it, infinities,
 * timestamps; a broken line refused rather than read as half a number.
 */
import t from 'tap';
import { parsePrometheusText, prometheusSamples } from '../src/prom-text.js';

t.test('labels with escapes, NaN and infinities, timestamps, and a broken line refused', async (t) => {
  const samples = prometheusSamples(
    [
      '# HELP x_total A help with "quotes".',
      '# TYPE x_total counter',
      'x_total{a="1",b="q\\"uo\\\\te\\n",c="}{, "} 5',
      '# TYPE y gauge',
      'y 1.5e3 1700000000000',
      '# TYPE z gauge',
      'z{} Nan',
      '# TYPE w gauge',
      'w{le="+Inf"} +Inf',
      '# TYPE v gauge',
      'v -Inf',
      '',
    ].join('\n'),
  );
  t.same(samples.slice(0, 2), [
    { name: 'x_total', labels: { a: '1', b: 'q"uo\\te\n', c: '}{, ' }, value: 5 },
    { name: 'y', labels: {}, value: 1500 },
  ]);
  t.ok(Number.isNaN(samples[2]!.value), 'Nan (as prom-client writes it) is NaN');
  t.same(
    samples.slice(3).map((s) => s.value),
    [Infinity, -Infinity],
  );
  const typed = (line: string) => `# TYPE x_total counter\n${line}\n`;
  t.throws(() => parsePrometheusText(typed('x_total{a="1" 5')), /not a sample line/, 'half a line');
  t.throws(() => parsePrometheusText(typed('x_total{a=1} 5')), /not a sample line/, 'an unquoted label value');
  t.throws(() => parsePrometheusText(typed('x_total five')), /not a sample line/, 'a value that is not a number');
});
