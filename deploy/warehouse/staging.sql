-- The warehouse staging schema. Runs unchanged on Amazon Redshift and on PostgreSQL (where
-- postgres-compat.sql first provides Redshift's GETDATE()). Every statement is idempotent.

CREATE SCHEMA IF NOT EXISTS staging;

-- Every event of the stream, one row each: payments, alerts, summaries, rejects, unknown types.
-- event_json_data is the event's `data` object as JSON text; event_dw_regdate is set by the
-- warehouse when the row is written.
CREATE TABLE IF NOT EXISTS staging.payment_events (
  event_type        VARCHAR(32)    NOT NULL,
  event_id          VARCHAR(64)    NOT NULL,
  event_date_origin TIMESTAMP      NOT NULL,
  event_dw_regdate  TIMESTAMP      NOT NULL DEFAULT GETDATE(),
  event_json_data   VARCHAR(65535) NOT NULL
);

-- Records that are not valid events are never dropped: they land here, raw, with the reason.
CREATE TABLE IF NOT EXISTS staging.payment_events_rejects (
  reason          VARCHAR(64)    NOT NULL,
  detail          VARCHAR(1024)  NOT NULL,
  raw_data        VARCHAR(65535) NOT NULL,
  raw_bytes       INTEGER        NOT NULL,
  shard_id        VARCHAR(128)   NOT NULL,
  sequence_number VARCHAR(129)   NOT NULL, -- Kinesis: up to 129 digits
  rejected_at     TIMESTAMP      NOT NULL DEFAULT GETDATE()
);
