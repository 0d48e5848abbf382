/**
 * The console's login to Redshift in AWS: IAM, no stored password. Redshift's GetClusterCredentials
 * gives the task role a temporary password of one database user (`risk_console`, which may only
 * read the staging schema: deploy/warehouse/access.sql), valid for up to an hour. The `pg` pool
 * asks for a password at every new connection; one is fetched, kept until shortly before it
 * expires, then fetched again.
 */
import { GetClusterCredentialsCommand, RedshiftClient } from '@aws-sdk/client-redshift';

/** What the console needs of the Redshift API (the SDK client in AWS; a fake in tests). */
export interface CredentialsApi {
  send(command: GetClusterCredentialsCommand): Promise<{ DbUser?: string; DbPassword?: string; Expiration?: Date }>;
}

export interface RedshiftLogin {
  clusterId: string;
  database: string;
  /** The database user whose rights the temporary login has. */
  user: string;
}

/** The temporary password's lifetime asked for (Redshift allows 900 to 3 600 s). */
const DURATION_S = 3_600;
/** A password is fetched again this long before it expires: a connection opened with it must still log in. */
const RENEW_BEFORE_MS = 5 * 60_000;

export class RedshiftCredentials {
  readonly #api: CredentialsApi;
  readonly #login: RedshiftLogin;
  readonly #now: () => number;
  #current: { password: string; expiresAt: number } | undefined;
  #fetching: Promise<string> | undefined;

  constructor(login: RedshiftLogin, options: { api?: CredentialsApi; region?: string; now?: () => number } = {}) {
    this.#login = login;
    this.#api = options.api ?? new RedshiftClient(options.region ? { region: options.region } : {});
    this.#now = options.now ?? Date.now;
  }

  /** The name the temporary password logs in as: Redshift prefixes the user with `IAM:`. */
  get user(): string {
    return `IAM:${this.#login.user}`;
  }

  /** A password valid for at least RENEW_BEFORE_MS more; concurrent callers share one request. */
  password(): Promise<string> {
    const current = this.#current;
    if (current && current.expiresAt - RENEW_BEFORE_MS > this.#now()) return Promise.resolve(current.password);
    this.#fetching ??= this.#fetch().finally(() => (this.#fetching = undefined));
    return this.#fetching;
  }

  async #fetch(): Promise<string> {
    const { clusterId, database, user } = this.#login;
    const out = await this.#api.send(
      new GetClusterCredentialsCommand({ ClusterIdentifier: clusterId, DbName: database, DbUser: user, DurationSeconds: DURATION_S, AutoCreate: false }),
    );
    if (!out.DbPassword || !out.Expiration) throw new Error('GetClusterCredentials returned no password');
    if (out.DbUser && out.DbUser !== this.user) throw new Error(`GetClusterCredentials logs in as ${out.DbUser}, not ${this.user}`);
    this.#current = { password: out.DbPassword, expiresAt: out.Expiration.getTime() };
    return out.DbPassword;
  }
}
