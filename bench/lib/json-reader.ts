/**
 * The cpu scenario's baseline (bench/scenarios/cpu.ts): reads every shard of KINESIS_STREAM the
 * way the processor does — the same client (common/src/kinesis.ts), the same ShardReader with the
 * processor's start position, record limit, pacing and prefetch, all passed in the environment as
 * they are to the processor — and does nothing with a record but JSON.parse its data. Its own
 * process, so that its CPU time is its own. Runs until SIGTERM, then prints `parsed <n>`.
 */
import { createKinesisClient } from '../../common/src/kinesis.js';
import { ShardReader, listAllShards } from '../../common/src/shard-reader.js';

const env = (name: string): number => {
  const n = Number(process.env[name]);
  if (!Number.isFinite(n)) throw new Error(`json-reader: ${name} must be set`);
  return n;
};
const stream = process.env.KINESIS_STREAM as string;
const limit = env('GET_RECORDS_LIMIT');
const pollIntervalMs = env('POLL_INTERVAL_MS');
const startLookbackMs = env('START_LOOKBACK_MS');
const client = createKinesisClient({ region: process.env.AWS_REGION ?? 'us-east-1', endpoint: process.env.KINESIS_ENDPOINT });
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort());
const td = new TextDecoder('utf-8', { fatal: true });
let parsed = 0;
const loops = (await listAllShards(client, stream)).map(async (shard) => {
  const reader = new ShardReader(
    client,
    stream,
    shard.ShardId!,
    { type: 'AT_TIMESTAMP', timestampMs: Date.now() - startLookbackMs },
    {
      limit,
      minCallIntervalMs: pollIntervalMs,
      prefetch: true,
      signal: controller.signal,
      now: () => performance.now(),
    },
  );
  while (!controller.signal.aborted) {
    for (const record of (await reader.next()).records) {
      // Used, so the parse cannot be optimised away.
      if ((JSON.parse(td.decode(record.Data)) as { event_type?: unknown }).event_type !== undefined) parsed++;
    }
  }
});
await Promise.all(loops);
process.stdout.write(`parsed ${parsed}\n`);
client.destroy();
