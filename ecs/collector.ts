/**
 * The metrics collector beside the processor in each task: the AWS Distro for OpenTelemetry
 * collector scrapes the processor's /metrics on localhost and
 *   - remote-writes every series to the Amazon Managed Service for Prometheus workspace (the
 *     dashboards in grafana/ and the rules in grafana/rules/ read them there), and
 *   - sends one series, the worst shard's behind-latest, to CloudWatch as an embedded-metric-format
 *     log: the metric the service scales on (ecs/processor-service.ts).
 * Every task's series carry its own `instance` (the ECS task id), so tasks never overwrite each other.
 */
import { stringify } from 'yaml';

/** Pinned: a collector upgrade is a reviewed change, never a side effect of a deployment. */
export const COLLECTOR_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0';
/** The scrape job; grafana/rules/processor.rules.yml and the dashboards select `job` by this name. */
export const SCRAPE_JOB = 'payments-processor';
export const SCRAPE_INTERVAL_SECONDS = 15;
/** The scaling signal in CloudWatch: namespace, name (the processor's gauge), no dimensions. */
export const LAG_METRIC = Object.freeze({ namespace: 'StolenCardAlerting', name: 'payments_shard_behind_latest_seconds' });
/** The health_check extension; the image's /healthcheck binary (the container health check) asks it. */
export const COLLECTOR_HEALTH_PORT = 13133;

export interface CollectorConfigParams {
  region: string;
  /** The workspace's remote-write URL: `<prometheus endpoint>api/v1/remote_write`. */
  remoteWriteUrl: string;
  metricsPort: number;
  /** Log group the embedded-metric-format records go to. */
  emfLogGroup: string;
}

/** The collector's configuration (AOT_CONFIG_CONTENT), as an object; `collectorConfigYaml` renders it. */
export function collectorConfig(p: CollectorConfigParams) {
  return {
    extensions: {
      sigv4auth: { region: p.region, service: 'aps' },
      health_check: { endpoint: `127.0.0.1:${COLLECTOR_HEALTH_PORT}` },
    },
    receivers: {
      prometheus: {
        config: {
          global: { scrape_interval: `${SCRAPE_INTERVAL_SECONDS}s`, scrape_timeout: '10s' },
          scrape_configs: [{ job_name: SCRAPE_JOB, metrics_path: '/metrics', static_configs: [{ targets: [`127.0.0.1:${p.metricsPort}`] }] }],
        },
      },
    },
    processors: {
      // The task id from the ECS metadata endpoint becomes the series' `instance`.
      'resourcedetection/ecs': { detectors: ['env', 'ecs'], timeout: '5s', override: false },
      'resource/instance': { attributes: [{ key: 'service.instance.id', from_attribute: 'aws.ecs.task.id', action: 'upsert' }] },
      'filter/lag': { metrics: { include: { match_type: 'strict', metric_names: [LAG_METRIC.name] } } },
      batch: { timeout: '10s' },
    },
    exporters: {
      prometheusremotewrite: {
        endpoint: p.remoteWriteUrl,
        auth: { authenticator: 'sigv4auth' },
        retry_on_failure: { enabled: true, max_elapsed_time: '10m' },
      },
      awsemf: {
        region: p.region,
        namespace: LAG_METRIC.namespace,
        log_group_name: p.emfLogGroup,
        log_stream_name: '{TaskId}',
        dimension_rollup_option: 'NoDimensionRollup',
        metric_declarations: [{ dimensions: [[]], metric_name_selectors: [`^${LAG_METRIC.name}$`] }],
      },
    },
    service: {
      extensions: ['sigv4auth', 'health_check'],
      pipelines: {
        metrics: {
          receivers: ['prometheus'],
          processors: ['resourcedetection/ecs', 'resource/instance', 'batch'],
          exporters: ['prometheusremotewrite'],
        },
        // resourcedetection too: the EMF log stream is named after the task ({TaskId}).
        'metrics/scaling': {
          receivers: ['prometheus'],
          processors: ['resourcedetection/ecs', 'filter/lag', 'batch'],
          exporters: ['awsemf'],
        },
      },
    },
  };
}

/**
 * YAML for AOT_CONFIG_CONTENT. CloudFormation tokens in the params stay as they are in the text and
 * are resolved by CDK when the string is used.
 */
export function collectorConfigYaml(p: CollectorConfigParams): string {
  return stringify(collectorConfig(p), { lineWidth: 0 });
}
