/**
 * A deployment step that runs SQL on the Redshift cluster and WAITS for it: the Lambda behind a
 * CloudFormation custom resource (CDK Provider framework, deploy/cdk/lib/warehouse.ts).
 *
 * The Redshift Data API only submits a statement; a custom resource that returned then would let
 * CloudFormation go on (and report success) while the DDL was still running or had failed. Here
 * Create/Update run `Sqls` in one transaction (or each on its own: `Separately`) and poll until it
 * finished; a failed statement fails the deployment with Redshift's error. Delete runs `DeleteSqls`
 * (if any) the same way.
 *
 * Credentials: `SecretArn` (the admin's managed secret) or `DbUser` (temporary credentials of that
 * database user through redshift:GetClusterCredentials, e.g. the loader that owns the copy jobs).
 */
import { redshiftDataApi, runAndWait, type DataApi, type SqlTarget, type WaitOptions } from './data-api.js';

export { runAndWait, type DataApi } from './data-api.js';

export interface SqlStepProperties extends SqlTarget {
  Sqls: string[];
  DeleteSqls?: string[];
  /**
   * 'true': run each statement on its own, in order, each waited for, instead of all in one
   * transaction: for statements Redshift refuses inside a transaction block (some GRANTs).
   * (A CloudFormation property is a string.)
   */
  Separately?: 'true' | 'false';
}

export interface ProviderEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  PhysicalResourceId?: string;
  ResourceProperties: SqlStepProperties & { ServiceToken?: string; StepName?: string };
}

export async function onEvent(event: ProviderEvent, api: DataApi, options?: WaitOptions) {
  const p = event.ResourceProperties;
  if (event.RequestType === 'Delete') {
    if (p.DeleteSqls && p.DeleteSqls.length > 0) await runAndWait(api, p, p.DeleteSqls, options);
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  // Named after the step: a step whose name changes (a copy job with a new definition) gets a new
  // id, and CloudFormation then deletes the old one with its own DeleteSqls.
  const physicalResourceId = `sql-step-${p.StepName ?? 'unnamed'}`;
  let id = '';
  if (p.Separately === 'true') for (const sql of p.Sqls) id = await runAndWait(api, p, [sql], options);
  else id = await runAndWait(api, p, p.Sqls, options);
  console.log(JSON.stringify({ step: p.StepName, request: event.RequestType, statementId: id, statements: p.Sqls.length, status: 'FINISHED' }));
  return { PhysicalResourceId: physicalResourceId, Data: { StatementId: id } };
}

export const handler = (event: ProviderEvent) => onEvent(event, redshiftDataApi());
