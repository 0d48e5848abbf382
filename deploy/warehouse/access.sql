-- Who may do what in the Redshift warehouse (Redshift only; the deploy step runs it after
-- staging.sql, deploy/cdk/lib/warehouse.ts). Every statement is idempotent.
--
--   loader   the auto-copy jobs run as this user: it may INSERT into the staging tables, nothing else.
--   analyst  a role that may read the staging schema: granted to grafana and to the risk team's users.
--   grafana  Managed Grafana's login (its password is set by the Grafana provisioning step).
--   risk_console  the risk console's login, for a card's alert history: no password; the console's
--            task role gets a temporary one from GetClusterCredentials (console/src/redshift-credentials.ts).
-- The admin (master) user is for deployments and break-glass only; its password is managed and
-- rotated by Redshift in Secrets Manager.

CREATE OR REPLACE PROCEDURE staging.ensure_user(user_name VARCHAR(128)) AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_user WHERE usename = user_name) THEN
    EXECUTE 'CREATE USER ' || quote_ident(user_name) || ' PASSWORD DISABLE';
  END IF;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE PROCEDURE staging.ensure_role(role_name_ VARCHAR(128)) AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM svv_roles WHERE role_name = role_name_) THEN
    EXECUTE 'CREATE ROLE ' || quote_ident(role_name_);
  END IF;
END;
$$ LANGUAGE plpgsql;

CALL staging.ensure_user('loader');
CALL staging.ensure_user('grafana');
CALL staging.ensure_user('risk_console');
CALL staging.ensure_role('analyst');

GRANT USAGE ON SCHEMA staging TO loader;
GRANT INSERT ON TABLE staging.payment_events, staging.payment_events_rejects TO loader;

GRANT USAGE ON SCHEMA staging TO ROLE analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA staging TO ROLE analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging GRANT SELECT ON TABLES TO ROLE analyst;
GRANT ROLE analyst TO grafana;
GRANT ROLE analyst TO risk_console;
