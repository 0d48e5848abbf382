import t from 'tap';
import { loadProcessorConfig } from '../src/config.js';
import { ConfigError } from '../../common/src/errors.js';
import { spawnComponent } from '../../common/test/helpers.js';

t.test('defaults are the local stack and the documented semantics', async (t) => {
  const c = loadProcessorConfig({});
  t.equal(c.KINESIS_ENDPOINT, 'http://127.0.0.1:4567');
  t.equal(c.KINESIS_STREAM, 'payments');
  t.equal(c.OUTPUT_STREAM, undefined, 'output defaults to the input stream');
  t.equal(c.HTTP_PORT, 8080);
  t.equal(c.OUT_OF_ORDERNESS_MS, 1000);
  t.equal(c.IDLE_TIMEOUT_MS, 5000);
  t.equal(c.IDLE_LAG_MS, 3000);
  t.equal(c.RETRO_ALERT_MS, 300_000, 'retro alerts reach back 5 min');
  t.equal(loadProcessorConfig({ RETRO_ALERT_MS: '0' }).RETRO_ALERT_MS, 0, '0: no record, no retro alerts');
  t.equal(c.START_LOOKBACK_MS, 3_600_000);
  t.ok(Object.isFrozen(c), 'frozen');
  t.equal(loadProcessorConfig({ KINESIS_ENDPOINT: '' }).KINESIS_ENDPOINT, undefined, 'empty endpoint = AWS');
});

t.test('every problem is listed at once', async (t) => {
  try {
    loadProcessorConfig({ HTTP_PORT: 'eighty', POLL_INTERVAL_MS: '10', KINESIS_ENDPOINT: 'not a url' });
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ConfigError);
    const problems = (e as ConfigError).problems.join('\n');
    t.match(problems, /HTTP_PORT/);
    t.match(problems, /POLL_INTERVAL_MS/);
    t.match(problems, /KINESIS_ENDPOINT/);
  }
  t.throws(() => loadProcessorConfig({ IDLE_LAG_MS: '500', OUT_OF_ORDERNESS_MS: '1000' }), /IDLE_LAG_MS \(500\) must be at least OUT_OF_ORDERNESS_MS/);
});

t.test('the process exits 2 with one clear message', async (t) => {
  const p = await spawnComponent(t, 'processor/src/main.ts', [], { HTTP_PORT: 'eighty', IDLE_TIMEOUT_MS: '-1' });
  const { code } = await p.exit;
  t.equal(code, 2);
  t.match(p.output.stderr, /processor: invalid configuration/);
  t.match(p.output.stderr, /HTTP_PORT/);
  t.match(p.output.stderr, /IDLE_TIMEOUT_MS/);
});
