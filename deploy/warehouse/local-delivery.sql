-- Positions of the local Firehose stand-in, one row per shard, written in the same transaction as
-- the rows they cover: a crash or restart neither loses nor duplicates a record.
-- (In AWS, Firehose keeps its own positions; this table exists only where the stand-in runs.)
CREATE SCHEMA IF NOT EXISTS delivery;

CREATE TABLE IF NOT EXISTS delivery.shard_positions (
  delivery_stream VARCHAR(64)  NOT NULL,
  shard_id        VARCHAR(128) NOT NULL,
  sequence_number VARCHAR(129),
  finished        BOOLEAN      NOT NULL,
  updated_at      TIMESTAMP    NOT NULL DEFAULT GETDATE(),
  PRIMARY KEY (delivery_stream, shard_id)
);
