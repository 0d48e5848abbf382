/**
 * The e2e baseline: a bare GetRecords loop over every shard of a stream (same pacing and limit as
 * the processor), that only counts records. Run as its own process, like the processor, so both
 * get the same share of the machine; prints `count <n>` to stdout every 250 ms until SIGTERM.
 * It counts PAYMENT_EVENT records only (by their first bytes), as the processor's
 * payments_records_read_total{event_type="PAYMENT_EVENT"} does: the processor's own output shares
 * the stream.
 */
import { createKinesisClient } from '../../common/src/kinesis.js';
import { ShardReader, listAllShards } from '../../common/src/shard-reader.js';

const stream = process.env.KINESIS_STREAM as string;
const client = createKinesisClient({ region: process.env.AWS_REGION ?? 'us-east-1', endpoint: process.env.KINESIS_ENDPOINT });
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort());
const PAYMENT_PREFIX = Buffer.from('{"event_type":"PAYMENT_EVENT"', 'latin1');
const isPayment = (data: Uint8Array | undefined): boolean =>
  data !== undefined && data.byteLength >= PAYMENT_PREFIX.length && Buffer.from(data.buffer, data.byteOffset, PAYMENT_PREFIX.length).equals(PAYMENT_PREFIX);
let count = 0;
const timer = setInterval(() => process.stdout.write(`count ${count}\n`), 250);
const loops = (await listAllShards(client, stream)).map(async (shard) => {
  const reader = new ShardReader(
    client,
    stream,
    shard.ShardId!,
    { type: 'TRIM_HORIZON' },
    { minCallIntervalMs: 200, limit: 10_000, signal: controller.signal },
  );
  while (!controller.signal.aborted) {
    for (const record of (await reader.next()).records) if (isPayment(record.Data)) count++;
  }
});
await Promise.all(loops);
clearInterval(timer);
process.stdout.write(`count ${count}\n`);
client.destroy();
