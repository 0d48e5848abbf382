/**
 * SQL on the Redshift cluster through the Data API, waited for. The Data API only submits a
 * statement; whoever needs its outcome (a deploy step, the Grafana provisioning) polls it here.
 */
import { BatchExecuteStatementCommand, DescribeStatementCommand, ExecuteStatementCommand, RedshiftDataClient } from '@aws-sdk/client-redshift-data';

/** Where and as whom: exactly one of SecretArn (e.g. the managed admin secret) and DbUser (temporary credentials). */
export interface SqlTarget {
  ClusterIdentifier: string;
  Database: string;
  SecretArn?: string;
  DbUser?: string;
}

export interface DataApi {
  submit(input: SqlTarget & { Sqls: string[] }): Promise<string>;
  describe(id: string): Promise<{ Status?: string; Error?: string }>;
}

export interface WaitOptions {
  pollMs?: number;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the statements and resolves when Redshift reports them FINISHED; throws Redshift's error otherwise. */
export async function runAndWait(api: DataApi, target: SqlTarget, sqls: string[], options: WaitOptions = {}): Promise<string> {
  const { pollMs = 2_000, timeoutMs = 12 * 60_000 } = options;
  if (!target.SecretArn === !target.DbUser) throw new Error('Data API: give exactly one of SecretArn and DbUser');
  const id = await api.submit({
    ClusterIdentifier: target.ClusterIdentifier,
    Database: target.Database,
    ...(target.SecretArn ? { SecretArn: target.SecretArn } : { DbUser: target.DbUser }),
    Sqls: sqls,
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Status, Error: error } = await api.describe(id);
    if (Status === 'FINISHED') return id;
    if (Status === 'FAILED' || Status === 'ABORTED') throw new Error(`Data API: statement ${id} ${Status}: ${error ?? 'no error given'}`);
    if (Date.now() > deadline) throw new Error(`Data API: statement ${id} still ${Status} after ${timeoutMs / 1000} s`);
    await sleep(pollMs);
  }
}

export function redshiftDataApi(client = new RedshiftDataClient({})): DataApi {
  return {
    async submit({ Sqls, ...where }) {
      // One statement runs on its own (COPY JOB cannot run inside a transaction block); several run
      // as one transaction.
      const out =
        Sqls.length === 1
          ? await client.send(new ExecuteStatementCommand({ ...where, Sql: Sqls[0] }))
          : await client.send(new BatchExecuteStatementCommand({ ...where, Sqls }));
      if (!out.Id) throw new Error('Data API: no statement id returned');
      return out.Id;
    },
    async describe(id) {
      return client.send(new DescribeStatementCommand({ Id: id }));
    },
  };
}
