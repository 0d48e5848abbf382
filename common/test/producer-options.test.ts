import t from 'tap';
import { MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES, resolveProducerOptions } from '../src/producer-options.js';
import { KinesisProducer } from '../src/producer.js';

t.test('producer options: Kinesis limits by default, every problem reported together', async (t) => {
  const o = resolveProducerOptions({});
  t.same(
    [o.maxBatchRecords, o.maxBatchBytes, o.maxRecordBytes, o.lingerMs, o.maxInFlight, o.maxBufferedRecords],
    [MAX_BATCH_RECORDS, MAX_BATCH_BYTES, MAX_RECORD_BYTES, 20, 1, 10_000],
  );
  t.ok(o.fence(), 'no fence: always holds');
  t.throws(
    () => resolveProducerOptions({ maxBatchRecords: 0, maxInFlight: 0, lingerMs: -1 }),
    /maxBatchRecords must be an integer in 1..500; lingerMs must be >= 0; maxInFlight must be an integer >= 1/,
  );
  t.throws(() => resolveProducerOptions({ maxRecordBytes: 2_000, maxBatchBytes: 1_000 }), /so any valid record fits a batch/);
  t.throws(
    () => new KinesisProducer({ send: async () => ({}) as never }, 's', { maxBufferedRecords: 0 }),
    /KinesisProducer: maxBufferedRecords/,
    'checked at construction',
  );
});
