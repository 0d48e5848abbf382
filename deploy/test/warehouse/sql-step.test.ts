/**
 * The warehouse deploy step (deploy/warehouse/sql-step.ts) waits for Redshift: a statement that
 * fails, is aborted or never finishes fails the deployment; Delete runs the drop SQL. And the SQL
 * scripts split into single statements correctly (deploy/cdk/lib/warehouse.ts `sqlStatements`).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { onEvent, runAndWait, type DataApi, type ProviderEvent } from '../../warehouse/sql-step.js';
import { ACCESS_SQL, STAGING_SQL, sqlStatements } from '../../cdk/lib/warehouse.js';

/** A Data API that reports the given statuses in turn, and records what it was asked to run. */
function dataApi(statuses: { Status: string; Error?: string }[]) {
  const submitted: Parameters<DataApi['submit']>[0][] = [];
  let described = 0;
  const api: DataApi = {
    async submit(input) {
      submitted.push(input);
      return `statement-${submitted.length}`;
    },
    async describe() {
      return statuses[Math.min(described++, statuses.length - 1)]!;
    },
  };
  return { api, submitted, described: () => described };
}

const props = {
  ClusterIdentifier: 'warehouse',
  Database: 'payments',
  SecretArn: 'arn:secret',
  Sqls: ['CREATE TABLE a (x INT)', 'GRANT SELECT ON a TO ROLE analyst'],
  StepName: 'ddl',
};
const fast = { pollMs: 1, timeoutMs: 2_000 };

t.test('Create waits until Redshift reports FINISHED, then returns the step id', async (t) => {
  const d = dataApi([{ Status: 'SUBMITTED' }, { Status: 'STARTED' }, { Status: 'FINISHED' }]);
  const out = await onEvent({ RequestType: 'Create', ResourceProperties: props }, d.api, fast);
  t.same(out, { PhysicalResourceId: 'sql-step-ddl', Data: { StatementId: 'statement-1' } });
  t.equal(d.described(), 3, 'polled until FINISHED');
  t.same(d.submitted, [{ ClusterIdentifier: 'warehouse', Database: 'payments', SecretArn: 'arn:secret', Sqls: props.Sqls }]);
});

t.test('Separately: each statement on its own, in order, each waited for; the first failure stops the rest', async (t) => {
  const d = dataApi([{ Status: 'FINISHED' }]);
  await onEvent({ RequestType: 'Create', ResourceProperties: { ...props, Separately: 'true' } }, d.api, fast);
  t.same(
    d.submitted.map((x) => x.Sqls),
    [[props.Sqls[0]], [props.Sqls[1]]],
  );
  const failing = dataApi([{ Status: 'FAILED', Error: 'ERROR: cannot run inside a transaction block' }]);
  await t.rejects(onEvent({ RequestType: 'Create', ResourceProperties: { ...props, Separately: 'true' } }, failing.api, fast), /transaction block/);
  t.equal(failing.submitted.length, 1, 'stopped at the first failure');
});

t.test("a FAILED or ABORTED statement fails the step with Redshift's error", async (t) => {
  for (const Status of ['FAILED', 'ABORTED']) {
    const d = dataApi([{ Status: 'STARTED' }, { Status, Error: 'ERROR: relation "staging.x" does not exist' }]);
    await t.rejects(
      onEvent({ RequestType: 'Update', PhysicalResourceId: 'sql-step-ddl', ResourceProperties: props }, d.api, fast),
      new RegExp(`${Status}: ERROR: relation "staging.x" does not exist`),
    );
  }
});

t.test('a statement that never finishes fails the step at the deadline', async (t) => {
  const d = dataApi([{ Status: 'STARTED' }]);
  await t.rejects(runAndWait(d.api, props, props.Sqls, { pollMs: 5, timeoutMs: 50 }), /still STARTED after 0.05 s/);
});

t.test('exactly one of SecretArn and DbUser', async (t) => {
  const d = dataApi([{ Status: 'FINISHED' }]);
  await t.rejects(runAndWait(d.api, { ...props, DbUser: 'loader' }, ['SELECT 1'], fast), /exactly one of SecretArn and DbUser/);
  await t.rejects(runAndWait(d.api, { ...props, SecretArn: undefined }, ['SELECT 1'], fast), /exactly one/);
  t.equal(d.submitted.length, 0, 'nothing submitted');
});

t.test('a copy job: its name is its id, a new definition gets a new id, Delete drops it as the loader', async (t) => {
  const job = {
    ClusterIdentifier: 'warehouse',
    Database: 'payments',
    DbUser: 'loader',
    StepName: 'payments_events_aaa',
    Sqls: ['COPY … JOB CREATE payments_events_aaa AUTO ON'],
    DeleteSqls: ['COPY JOB DROP payments_events_aaa'],
  };
  const d = dataApi([{ Status: 'FINISHED' }]);
  t.equal((await onEvent({ RequestType: 'Create', ResourceProperties: job }, d.api, fast)).PhysicalResourceId, 'sql-step-payments_events_aaa');
  const replaced = await onEvent(
    {
      RequestType: 'Update',
      PhysicalResourceId: 'sql-step-payments_events_aaa',
      ResourceProperties: { ...job, StepName: 'payments_events_bbb' },
    },
    d.api,
    fast,
  );
  t.equal(replaced.PhysicalResourceId, 'sql-step-payments_events_bbb', 'CloudFormation then deletes the old one');
  const deleted = await onEvent(
    { RequestType: 'Delete', PhysicalResourceId: 'sql-step-payments_events_aaa', ResourceProperties: job } as ProviderEvent,
    d.api,
    fast,
  );
  t.same(deleted, { PhysicalResourceId: 'sql-step-payments_events_aaa' });
  t.same(d.submitted.at(-1), {
    ClusterIdentifier: 'warehouse',
    Database: 'payments',
    DbUser: 'loader',
    Sqls: ['COPY JOB DROP payments_events_aaa'],
  });
  const ddl = dataApi([{ Status: 'FINISHED' }]);
  await onEvent({ RequestType: 'Delete', PhysicalResourceId: 'sql-step-ddl', ResourceProperties: props }, ddl.api, fast);
  t.equal(ddl.submitted.length, 0, 'a step without DeleteSqls leaves the warehouse alone on Delete');
});

t.test('sqlStatements: comments gone, one statement per `;`, a dollar-quoted body kept whole', async (t) => {
  t.same(sqlStatements('-- a comment; with a semicolon\nCREATE SCHEMA s; -- trailing\nSELECT 1;\n'), ['CREATE SCHEMA s', 'SELECT 1']);
  const procedure = sqlStatements(
    "CREATE PROCEDURE p() AS $$\nBEGIN\n  -- kept: inside the body\n  EXECUTE 'x'; EXECUTE 'y';\nEND;\n$$ LANGUAGE plpgsql;\nCALL p();",
  );
  t.equal(procedure.length, 2);
  t.match(procedure[0], /^CREATE PROCEDURE p\(\) AS \$\$ BEGIN -- kept: inside the body EXECUTE 'x'; EXECUTE 'y'; END; \$\$ LANGUAGE plpgsql$/);
  t.equal(procedure[1], 'CALL p()');
  const staging = sqlStatements(readFileSync(STAGING_SQL, 'utf8'));
  t.ok(staging.length >= 3);
  for (const s of staging) t.notMatch(s, /--|;/);
  const access = sqlStatements(readFileSync(ACCESS_SQL, 'utf8'));
  t.equal(access.filter((s) => s.startsWith('CREATE OR REPLACE PROCEDURE')).length, 2, 'both procedures whole');
  t.ok(access.includes("CALL staging.ensure_user('loader')"));
});
