/**
 * The processor's alerting rules (grafana/rules/processor.rules.yml): `promtool check rules`, then
 * `promtool test rules` on processor.rules.test.yml, which must make every alert fire once and
 * stay silent once. (dashboards.test.ts loads the same rules into a Prometheus scraping a live
 * processor: every rule evaluates, every recording rule returns data.) Needs Debian's `prometheus`
 * package for promtool: fails, never skips, without it.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../../common/test/helpers.js';

const RULES = join(ROOT, 'grafana/rules');
const promtool = (args: string[]) => spawnSync('promtool', args, { cwd: RULES, encoding: 'utf8' });

interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{ alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }>;
  }>;
}
interface TestFile {
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}
const rules = parse(readFileSync(join(RULES, 'processor.rules.yml'), 'utf8')) as RuleFile;
const tests = parse(readFileSync(join(RULES, 'processor.rules.test.yml'), 'utf8')) as TestFile;
const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));

t.test('promtool check rules and promtool test rules', async (t) => {
  const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return void t.fail("promtool is not installed: install Debian's `prometheus` package (apt-get install -y prometheus)");
  const check = promtool(['check', 'rules', 'processor.rules.yml']);
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  const test = promtool(['test', 'rules', 'processor.rules.test.yml']);
  t.equal(test.status, 0, `promtool test rules: ${test.stdout}${test.stderr}`);
  t.match(test.stdout, /SUCCESS/);
});

t.test('every alert has a severity and a summary, and a test in which it fires and one in which it does not', async (t) => {
  t.ok(alerts.length >= 10, `${alerts.length} alerts`);
  const cases = tests.tests.flatMap((c) => c.alert_rule_test ?? []);
  for (const a of alerts) {
    t.match(a.labels?.severity, /^(page|ticket)$/, `${a.alert}: severity page or ticket`);
    t.ok((a.annotations?.summary ?? '').length > 20, `${a.alert}: a summary`);
    const mine = cases.filter((c) => c.alertname === a.alert);
    t.ok(
      mine.some((c) => c.exp_alerts.length > 0),
      `${a.alert} fires in a test`,
    );
    t.ok(
      mine.some((c) => c.exp_alerts.length === 0),
      `${a.alert} stays silent in a test`,
    );
  }
  for (const name of [
    'PaymentsShardBehindLatest',
    'PaymentsWatermarkLag',
    'PaymentsShardStuck',
    'PaymentsNoOutput',
    'PaymentsRejectsHigh',
    'PaymentsPutRecordsRetrying',
    'PaymentsLeaseChurn',
    'PaymentsProcessorDown',
  ]) {
    t.ok(
      alerts.some((a) => a.alert === name),
      `issue 15's ${name}`,
    );
  }
});

t.test('docs/deployment.md says what to do for every alert', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
  for (const a of alerts) t.match(doc, new RegExp(`\\| \`${a.alert}\` \\|`), `${a.alert} has a runbook row`);
});
