/** A closed Kinesis shard for shard-task tests: payments served in fixed GetRecords batches. */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { toPaymentEvent, type Pay } from '../engine/helpers.js';

/**
 * Batches of payments as records, keyed by card number as producers must key them, with sequence
 * numbers counting up from `firstSequence`.
 */
export function paymentRecords(batches: readonly Pay[][], firstSequence = 1): _Record[][] {
  let seq = firstSequence;
  return batches.map((b) => b.map((p) => ({ Data: Buffer.from(JSON.stringify(toPaymentEvent(p))), SequenceNumber: String(seq++), PartitionKey: p.card })));
}

/** A client serving `batches`, one per GetRecords call, the last one closing the shard; every iterator starts at the first. */
export function closedShard(batches: readonly _Record[][]): KinesisClient {
  return {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        return { Records: batches[i] ?? [], NextShardIterator: i >= batches.length - 1 ? undefined : String(i + 1), MillisBehindLatest: 0 };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
}
