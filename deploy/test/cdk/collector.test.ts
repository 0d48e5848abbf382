/**
 * The collector beside each processor (ecs/collector.ts) agrees with what reads its output: the
 * scrape job is the `job` the rules and the local Prometheus use, the target is the processor's
 * port, the scaling metric is a gauge the processor really exports, and each task's series get
 * their own `instance`.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { COLLECTOR_HEALTH_PORT, COLLECTOR_IMAGE, LAG_METRIC, SCRAPE_JOB, collectorConfig, collectorConfigYaml } from '../../../ecs/collector.js';
import { PROCESSOR_CONTAINER } from '../../../ecs/processor-service.js';
import { createMetrics } from '../../../processor/src/metrics.js';
import { ROOT } from '../../../common/test/helpers.js';

const params = {
  region: 'eu-west-1',
  remoteWriteUrl: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write',
  metricsPort: PROCESSOR_CONTAINER.port,
  emfLogGroup: 'metrics',
};
const config = collectorConfig(params);

t.test('the YAML is the configuration object', async (t) => {
  t.same(parse(collectorConfigYaml(params)), config);
  t.match(COLLECTOR_IMAGE, /^public\.ecr\.aws\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+$/);
  t.equal(config.extensions.health_check.endpoint, `127.0.0.1:${COLLECTOR_HEALTH_PORT}`);
});

t.test('scrapes the processor of its own task as the job the rules and the local Prometheus select', async (t) => {
  const scrape = config.receivers.prometheus.config.scrape_configs[0]!;
  t.same(scrape.static_configs[0]!.targets, [`127.0.0.1:${PROCESSOR_CONTAINER.port}`]);
  t.equal(scrape.metrics_path, '/metrics');
  const rules = readFileSync(join(ROOT, 'grafana/rules/processor.rules.yml'), 'utf8');
  const jobs = [...rules.matchAll(/job="([^"]+)"/g)].map((m) => m[1]);
  t.ok(jobs.length > 0);
  for (const job of jobs) t.equal(job, SCRAPE_JOB, 'the rules select this job');
  const local = parse(readFileSync(join(ROOT, 'grafana/prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] };
  t.equal(local.scrape_configs[0]!.job_name, SCRAPE_JOB, 'the same job name as locally');
});

t.test('every task its own instance: the ECS task id', async (t) => {
  t.same(config.processors['resourcedetection/ecs'].detectors, ['env', 'ecs']);
  t.same(config.processors['resource/instance'].attributes, [{ key: 'service.instance.id', from_attribute: 'aws.ecs.task.id', action: 'upsert' }]);
  t.same(config.service.pipelines.metrics.processors.slice(0, 2), ['resourcedetection/ecs', 'resource/instance'], 'before the export');
});

t.test('remote write with SigV4 to the workspace; the scaling metric alone to CloudWatch', async (t) => {
  t.equal(config.exporters.prometheusremotewrite.endpoint, params.remoteWriteUrl);
  t.same(config.extensions.sigv4auth, { region: 'eu-west-1', service: 'aps' });
  t.same(config.service.extensions, ['sigv4auth', 'health_check']);
  t.same(config.processors['filter/lag'].metrics.include.metric_names, [LAG_METRIC.name]);
  t.same(
    config.service.pipelines['metrics/scaling'],
    { receivers: ['prometheus'], processors: ['resourcedetection/ecs', 'filter/lag', 'batch'], exporters: ['awsemf'] },
    'the task id is known, so {TaskId} names the log stream',
  );
  t.equal(config.exporters.awsemf.log_stream_name, '{TaskId}');
  t.same(config.exporters.awsemf.metric_declarations, [{ dimensions: [[]], metric_name_selectors: [`^${LAG_METRIC.name}$`] }]);
  const registry = new Registry();
  createMetrics(registry);
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === LAG_METRIC.name);
  t.ok(metric, `the processor exports ${LAG_METRIC.name}`);
  t.equal(metric?.type, 'gauge');
});
