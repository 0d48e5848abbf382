/**
 * The provisioner's AWS dependencies as the small interfaces `provision` takes: a short-lived
 * Grafana service-account token, a Secrets Manager read, and one SQL statement through the
 * Redshift Data API run to completion.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateWorkspaceServiceAccountCommand,
  CreateWorkspaceServiceAccountTokenCommand,
  DeleteWorkspaceServiceAccountTokenCommand,
  type GrafanaClient,
  ListWorkspaceServiceAccountsCommand,
  type ServiceAccountSummary,
} from '@aws-sdk/client-grafana';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runAndWait, type DataApi } from '../warehouse/data-api.js';

export const SERVICE_ACCOUNT = 'cfn-provisioner';
/** Seconds; the token is deleted at the end of each run, this bounds its life if deletion fails. */
export const TOKEN_SECONDS_TO_LIVE = 900;

export interface WorkspaceToken {
  id: string;
  serviceAccountId: string;
  /** The bearer token; never logged. */
  key: string;
}

export interface TokenSource {
  createToken(): Promise<WorkspaceToken>;
  deleteToken(token: WorkspaceToken): Promise<void>;
}

export interface SecretSource {
  /** The secret's SecretString. */
  get(arn: string): Promise<string>;
}

export interface SqlRunner {
  /** Runs one statement to completion; throws when it fails. */
  run(sql: string): Promise<void>;
}

/** Tokens of the workspace service account `cfn-provisioner` (ADMIN), created on first use. */
export function workspaceTokens(client: GrafanaClient, workspaceId: string): TokenSource {
  async function findAccount(): Promise<ServiceAccountSummary | undefined> {
    let nextToken: string | undefined;
    do {
      const page = await client.send(new ListWorkspaceServiceAccountsCommand({ workspaceId, nextToken }));
      const found = page.serviceAccounts?.find((a) => a.name === SERVICE_ACCOUNT);
      if (found) return found;
      nextToken = page.nextToken;
    } while (nextToken);
    return undefined;
  }

  return {
    async createToken() {
      const existing = await findAccount();
      if (existing && (existing.grafanaRole !== 'ADMIN' || existing.isDisabled === 'true')) {
        throw new Error(
          `Grafana service account ${SERVICE_ACCOUNT} of workspace ${workspaceId} exists with role ${existing.grafanaRole}` +
            `${existing.isDisabled === 'true' ? ', disabled' : ''}; it must be an enabled ADMIN: delete it and deploy again`,
        );
      }
      const serviceAccountId =
        existing?.id ?? (await client.send(new CreateWorkspaceServiceAccountCommand({ workspaceId, name: SERVICE_ACCOUNT, grafanaRole: 'ADMIN' }))).id;
      if (!serviceAccountId) throw new Error(`Grafana service account ${SERVICE_ACCOUNT}: no id returned`);
      const created = await client.send(
        new CreateWorkspaceServiceAccountTokenCommand({
          workspaceId,
          serviceAccountId,
          name: `${SERVICE_ACCOUNT}-${Date.now()}-${randomUUID().slice(0, 8)}`,
          secondsToLive: TOKEN_SECONDS_TO_LIVE,
        }),
      );
      const token = created.serviceAccountToken;
      if (!token?.id || !token.key) throw new Error(`Grafana service account ${SERVICE_ACCOUNT}: no token returned`);
      return { id: token.id, serviceAccountId, key: token.key };
    },
    async deleteToken(token) {
      await client.send(new DeleteWorkspaceServiceAccountTokenCommand({ workspaceId, serviceAccountId: token.serviceAccountId, tokenId: token.id }));
    },
  };
}

export function secretsManagerSecrets(client: SecretsManagerClient): SecretSource {
  return {
    async get(arn) {
      const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
      if (out.SecretString === undefined) throw new Error(`secret ${arn} has no SecretString`);
      return out.SecretString;
    },
  };
}

/** One statement as the admin (the managed secret), waited for (deploy/warehouse/data-api.ts). */
export function redshiftSql(api: DataApi, target: { cluster: string; database: string; secretArn: string }): SqlRunner {
  const where = { ClusterIdentifier: target.cluster, Database: target.database, SecretArn: target.secretArn };
  return { run: async (sql) => void (await runAndWait(api, where, [sql], { pollMs: 1_000, timeoutMs: 60_000 })) };
}
