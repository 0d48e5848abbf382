-- PostgreSQL stand-in for Redshift's GETDATE(): the current UTC time as TIMESTAMP.
-- clock_timestamp(), not now(): now() is the transaction's start, and a row's registration time
-- must not precede the moment it was written. Skipped on Redshift, which has GETDATE() built in.
CREATE OR REPLACE FUNCTION getdate() RETURNS TIMESTAMP
  LANGUAGE sql VOLATILE
  AS $$ SELECT (clock_timestamp() AT TIME ZONE 'UTC')::TIMESTAMP(3) $$;
