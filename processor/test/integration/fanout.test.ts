/**
 * Issue 17, acceptance 3: the enhanced fan-out read path (SubscribeToShard through a registered
 * consumer, on kinesis-local: the npm emulator that implements fan-out) passes the same exactness
 * checks as polling (on kinesalite, the local stack's emulator), and reports alert time − window
 * end for both. Polling is not run on kinesis-local: under load its GetRecords path stalls for
 * seconds while the shard looks caught up, so the idle watermark advances and payments turn late
 * (seen at 400 events/s on this 2-core machine; fan-out on the same emulator is unaffected).
 */
import t, { type Test } from 'tap';
import { startStack } from './harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

t.test('polling: every stolen-card payment alerted once, every summary exact', (t) => run(t, 'polling'));
t.test('fanout: every stolen-card payment alerted once, every summary exact', (t) => run(t, 'fanout'));

async function run(t: Test, read: 'polling' | 'fanout') {
  {
    const stack = await startStack(t, { cards: 1000, shards: 2, emulator: read === 'fanout' ? 'kinesis-local' : 'kinesalite' });
    const processor = await stack.startProcessor({ KINESIS_READ: read, LOG_LEVEL: 'info' });
    const sim = await stack.startSimulator(['--count', '6000', '--rate', '400', '--disorder-ms', '300', '--seed', '12']);
    t.equal((await sim.exit).code, 0, 'simulator finished');
    const published = await stack.published();
    const { out, cutoff } = await untilFinalSummaries(stack, published);
    const alerts = verifyAlerts(t, out, published, stack);
    verifySummaries(t, out, published, stack, cutoff);
    if (read === 'fanout') t.match(processor.output.stdout, /reading shards by enhanced fan-out/, 'the processor read by fan-out');
    else t.notMatch(processor.output.stdout, /enhanced fan-out/, 'the processor polled');
    // Windows that closed while traffic ran (the last ones close on the idle timeout).
    const lastPaid = Math.max(...published.map((p) => Date.parse(p.event_date_origin)));
    const fired = out.alerts
      .filter((a) => Date.parse(a.data.window_end) < lastPaid - 2_000)
      .map((a) => (Date.parse(a.event_date_origin) - Date.parse(a.data.window_end)) / 1000);
    t.comment(
      `${read}: ${alerts.alerts} alerts; alert time − window end over ${fired.length}: p50 ${pct(fired, 50).toFixed(2)} s, p99 ${pct(fired, 99).toFixed(2)} s`,
    );
    t.ok(fired.length > 0, 'alerts from steady traffic');
    processor.child.kill('SIGTERM');
    t.equal((await processor.exit).code, 0, 'stopped with SIGTERM');
  }
}
