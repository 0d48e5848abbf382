/**
 * The local stack for processor integration tests: an in-memory Kinesis emulator and warehouse
 * in this process, the processor, simulator and Firehose stand-in as real child processes (so
 * they can be killed with SIGKILL), and a reader of everything the stream holds.
 */
import type { Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { _Record } from '@aws-sdk/client-kinesis';
import { freePort } from '../../../deploy/local/loopback.js';
import { spawnComponent, waitFor, withCardTokenKey, withKinesis, withTempDir, withWarehouse } from '../../../common/test/helpers.js';
import { ShardReader, listAllShards } from '../../../common/src/shard-reader.js';
import { readCardsFile } from '../../../common/src/cards-file.js';
import { stolenRefsOfCardsFile, writeStolenList } from '../../../common/src/stolen-list.js';
import type { AlertEvent, PaymentEvent, RejectedEvent, SummaryEvent } from '../../../common/src/events.js';

export { freePort };

export interface StreamContents {
  payments: PaymentEvent[];
  alerts: AlertEvent[];
  summaries: SummaryEvent[];
  rejected: RejectedEvent[];
  other: _Record[];
}

export async function startStack(t: Test, options: { cards?: number; shards?: number; warehouse?: boolean; emulator?: 'kinesalite' | 'kinesis-local' } = {}) {
  const dir = await withTempDir(t, 'sca-int-');
  const k = await withKinesis(t, { shards: options.shards ?? 4, stream: 'payments', ...(options.emulator ? { emulator: options.emulator } : {}) });
  const w = options.warehouse ? await withWarehouse(t) : undefined;
  const cardsFile = join(dir, 'cards.csv');
  const gen = await spawnComponent(t, 'cardgen/src/main.ts', ['--count', String(options.cards ?? 1000), '--out', cardsFile, '--seed', '7']);
  if ((await gen.exit).code !== 0) throw new Error(`cardgen failed: ${gen.output.stderr}`);
  const { stolen } = await readCardsFile(cardsFile);
  const key = await withCardTokenKey(t, dir);
  // What the processor reads instead of the cards file: the stolen cards as card refs.
  const stolenList = join(dir, 'stolen-cards.csv');
  await writeStolenList(stolenList, await stolenRefsOfCardsFile(cardsFile, key.tokenizer));
  const env = {
    KINESIS_ENDPOINT: k.endpoint,
    KINESIS_STREAM: k.stream,
    STOLEN_LIST: stolenList,
    CARD_TOKEN_KEY_FILE: key.path,
    ...(w ? { WAREHOUSE_URL: w.url } : {}),
  };
  const stateDir = join(dir, 'state');
  const httpPort = await freePort();

  return {
    dir,
    kinesis: k,
    warehouse: w,
    cardsFile,
    stolenList,
    /** The stolen card numbers (the test's knowledge; the processor has only their refs). */
    stolen,
    /** The card token key the components use (what a test needs to compute their tokens). */
    tokenizer: key.tokenizer,
    env,
    stateDir,
    httpPort,
    eventsFile: join(dir, 'events.jsonl'),

    startProcessor(extraEnv: Record<string, string> = {}) {
      return spawnComponent(t, 'processor/src/main.ts', [], {
        ...env,
        STATE_DIR: stateDir,
        HTTP_PORT: String(httpPort),
        HTTP_HOST: '127.0.0.1',
        IDLE_TIMEOUT_MS: '2000',
        IDLE_LAG_MS: '2000',
        SHARD_REFRESH_MS: '1000',
        LOG_LEVEL: 'warn',
        // One processor owns every shard unless a test brings a lease table.
        LEASE_TABLE: '',
        ...extraEnv,
      });
    },

    startSimulator(args: string[]) {
      return spawnComponent(t, 'simulator/src/main.ts', ['--cards', cardsFile, '--out-events', join(dir, 'events.jsonl'), ...args], env);
    },

    startStandin() {
      return spawnComponent(t, 'deploy/local/firehose-main.ts', [], env);
    },

    async published(): Promise<PaymentEvent[]> {
      const text = await readFile(join(dir, 'events.jsonl'), 'utf8').catch(() => '');
      return text.trim() === ''
        ? []
        : text
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as PaymentEvent);
    },

    /** Everything in the stream now, from every shard's start. */
    async readStream(): Promise<StreamContents> {
      const out: StreamContents = { payments: [], alerts: [], summaries: [], rejected: [], other: [] };
      for (const shard of await listAllShards(k.client, k.stream)) {
        const reader = new ShardReader(k.client, k.stream, shard.ShardId!, { type: 'TRIM_HORIZON' }, { minCallIntervalMs: 0 });
        for (;;) {
          const batch = await reader.next();
          for (const r of batch.records) {
            let e: { event_type?: string } | undefined;
            try {
              e = JSON.parse(Buffer.from(r.Data!).toString('utf8'));
            } catch {
              e = undefined;
            }
            if (e?.event_type === 'PAYMENT_EVENT') out.payments.push(e as PaymentEvent);
            else if (e?.event_type === 'PAYMENT_ALERT') out.alerts.push(e as AlertEvent);
            else if (e?.event_type === 'PAYMENT_ALERT_SUMMARY') out.summaries.push(e as SummaryEvent);
            else if (e?.event_type === 'PAYMENT_EVENT_REJECTED') out.rejected.push(e as RejectedEvent);
            else out.other.push(r);
          }
          if (batch.end || (batch.records.length === 0 && batch.millisBehindLatest === 0)) break;
        }
      }
      return out;
    },

    async metrics(): Promise<string> {
      const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
      return res.text();
    },

    /** Until the processor on httpPort answers /health with 200, i.e. its start-up is over. */
    async untilServing(timeoutMs = 60_000): Promise<void> {
      await waitFor(
        'the processor to serve /health',
        async () => {
          const res = await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => undefined);
          return res?.status === 200;
        },
        timeoutMs,
        100,
      );
    },

    waitFor,
  };
}
