/**
 * What the provisioner puts into the Grafana workspace: the two data sources and the dashboards.
 * The uids `prometheus` and `warehouse`, names and types are those of the local provisioning
 * (grafana/provisioning/datasources/datasources.yml); the dashboards reference those uids. In AWS
 * Prometheus is Amazon Managed Prometheus, signed with SigV4 by the workspace's IAM role, and the
 * warehouse is Redshift over TLS.
 */
import { createHash } from 'node:crypto';
import { dashboards } from './dashboards.js';

export { dashboards, type Dashboard } from './dashboards.js';

export interface DatasourceValues {
  /** The AMP workspace's query endpoint, ending with `/`. */
  prometheusUrl: string;
  region: string;
  /** `host:port` */
  warehouseUrl: string;
  database: string;
  user: string;
  password: string;
}

export interface Datasource {
  uid: string;
  name: string;
  type: string;
  access: 'proxy';
  url: string;
  isDefault: boolean;
  user?: string;
  jsonData: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

export function datasourceDefinitions(v: DatasourceValues): Datasource[] {
  return [
    {
      uid: 'prometheus',
      name: 'Prometheus',
      type: 'prometheus',
      access: 'proxy',
      url: v.prometheusUrl,
      isDefault: true,
      jsonData: { httpMethod: 'POST', sigV4Auth: true, sigV4AuthType: 'ec2_iam_role', sigV4Region: v.region, timeInterval: '15s' },
    },
    {
      uid: 'warehouse',
      name: 'Warehouse',
      // The type's name since Grafana 10.3 (before: `postgres`).
      type: 'grafana-postgresql-datasource',
      access: 'proxy',
      url: v.warehouseUrl,
      isDefault: false,
      user: v.user,
      jsonData: { database: v.database, sslmode: 'require', postgresVersion: 1200, timescaledb: false },
      secureJsonData: { password: v.password },
    },
  ];
}

/**
 * sha256 (hex) of the data source definitions (with placeholders for the deployment's values) and
 * of every dashboard. The CDK app passes it as the custom resource's ContentHash, so a change to
 * either makes CloudFormation send an Update.
 */
export function contentHash(): string {
  const placeholders: DatasourceValues = {
    prometheusUrl: '${PrometheusUrl}',
    region: '${Region}',
    warehouseUrl: '${WarehouseHost}:${WarehousePort}',
    database: '${WarehouseDatabase}',
    user: '${ReaderUser}',
    password: '${ReaderPassword}',
  };
  return createHash('sha256')
    .update(JSON.stringify({ datasources: datasourceDefinitions(placeholders), dashboards }))
    .digest('hex');
}
