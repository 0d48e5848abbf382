/**
 * 8. CPU per payment, end to end (issue 16). A backlog of payments already in the stream (4
 * kinesalite shards, in this process, as in e2e.ts) is read, side by side, by the processor (its
 * own process, started as `npm run processor` starts it, with its real client, LevelDB state and
 * Kinesis sink) and by a bare reader (bench/lib/json-reader.ts: the same client and reader, only
 * JSON.parse). For each: its process CPU time (user + system, /proc/<pid>/stat, all threads) from
 * the moment it starts reading to the moment it is done with the last record, ÷ the payments.
 * The verdict is the processor's median ÷ the bare reader's median. Side by side, as in e2e.ts,
 * because this machine's load moves CPU time per record by ±25 % from minute to minute, both
 * readers' alike: one after the other, the runs' ratios spread 1.4–2.6; side by side, 1.6–2.0.
 *
 * Each talks to the emulator through its own KinesisTap (bench/lib/kinesis-tap.ts). Start: the tap holds
 * each shard's first GetRecords call until the process is quiet (its start-up over: tsx, the
 * cards file, LevelDB), the CPU time is sampled, then the calls go through. End: the tap sees
 * every shard hand out all its records and be called twice more since (see the tap for why
 * twice), and the CPU time is sampled as that call arrives. Nothing is subtracted; the
 * processor's /metrics is read once, after the end.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { startChild, stopChild, type Child } from '../lib/child.js';
import { emit, info, QUICK, relative, round } from '../lib/figures.js';
import { encodePayments, processorCardEnv } from '../lib/workload.js';
import { KinesisTap } from '../lib/kinesis-tap.js';
import { cpuSeconds, processCpu, CPU_RESOLUTION_S, type CpuTimes } from '../lib/proc-cpu.js';
import { startKinesisEmulator, ensureStream } from '../../deploy/local/kinesis-emulator.js';
import { freePort } from '../../deploy/local/loopback.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { listAllShards } from '../../common/src/shard-reader.js';
import { KinesisProducer, type ProducerRecord } from '../../common/src/producer.js';
import { generateCards } from '../../cardgen/src/generate.js';

const REPS = 5;
const SHARDS = 4;
/** Payments in the backlog, the closing ones (below) included. */
const COUNT = QUICK ? 50_000 : 200_000;
/** Event-time density, as in throughput.ts: 10 000 payments/s. */
const STEP_MS = 0.1;
/** The processor's reading settings (its defaults), given to both readers explicitly. */
const READ_ENV = { GET_RECORDS_LIMIT: '10000', POLL_INTERVAL_MS: '500', START_LOOKBACK_MS: '3600000' };
/** Start-up is over when the process used at most this share of a core over QUIET_MS. */
const QUIET_SHARE = 0.03;
const QUIET_MS = 1_000;
/** A held call must go through well before the client's 30-s socket timeout (common/src/kinesis.ts). */
const MAX_HOLD_MS = 15_000;

const STREAM = 'cpu';
const OUTPUT = 'cpu-out';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t00 = performance.now();
const debug = (line: string) => {
  if (process.env.BENCH_DEBUG) process.stderr.write(`[cpu ${((performance.now() - t00) / 1000).toFixed(1)} s] ${line}\n`);
};

const start = (script: string, env: Record<string, string>): Child => startChild(script, [], env);
const stop = stopChild;

const md5 = (key: string): bigint => BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`);

interface Run {
  cpu: CpuTimes;
  wallS: number;
  startupS: number;
  quiet: boolean;
}

/** A reading process behind its own tap; `end` is sampled by the tap at the end of the backlog. */
interface Reader {
  script: string;
  child: Child;
  tap: KinesisTap;
  pid: number;
  end: { cpu: CpuTimes; at: number } | undefined;
  ended: Promise<void>;
}

async function startReader(script: string, env: Record<string, string>, emulatorEndpoint: string, expected: ReadonlyMap<string, number>): Promise<Reader> {
  let onEnd = () => {};
  const ended = new Promise<void>((resolve) => (onEnd = resolve));
  const holder: { reader?: Reader } = {};
  const tap = new KinesisTap(emulatorEndpoint, STREAM, expected, () => {
    const r = holder.reader!;
    r.end = { cpu: processCpu(r.pid), at: performance.now() };
    onEnd();
  });
  const endpoint = await tap.listen();
  const child = start(script, { ...env, KINESIS_ENDPOINT: endpoint, KINESIS_STREAM: STREAM, AWS_REGION: 'us-east-1', ...READ_ENV });
  holder.reader = { script, child, tap, pid: child.proc.pid!, end: undefined, ended };
  return holder.reader;
}

const failed = (r: Reader) => new Error(`${r.script} exited (${r.child.proc.exitCode ?? r.child.proc.signalCode}): ${r.child.stderr().slice(-2000)}`);

/**
 * Waits for every shard's first GetRecords call of every reader and for each process to go quiet,
 * samples their CPU times, lets all the calls through at once (so both read the backlog side by
 * side, under the same load of the machine), and returns each one's CPU time up to its end.
 */
async function readSideBySide(readers: readonly Reader[], shards: number): Promise<Run[]> {
  for (const until = Date.now() + 180_000; readers.some((r) => r.tap.heldShards < shards); await sleep(50)) {
    for (const r of readers) if (r.child.proc.exitCode !== null) throw failed(r);
    if (Date.now() > until)
      throw new Error(`not every reader started reading its ${shards} shards: ${readers.map((r) => `${r.script}: ${r.tap.heldShards} held`).join('; ')}`);
  }
  debug(`every shard's first GetRecords held: ${readers.map((r) => `${r.script} ${cpuSeconds(processCpu(r.pid)).toFixed(2)} s CPU`).join(', ')}`);
  // Every shard waits for its first batch: let the rest of the start-up (LevelDB's compaction of
  // the stolen cards, a GC) finish, so that none of it is counted.
  const windows = readers.map(() => [] as Array<{ t: number; cpu: number }>);
  const heldAt = performance.now();
  let quiet: boolean[];
  for (;;) {
    const t = performance.now();
    quiet = readers.map((r, i) => {
      const w = windows[i]!;
      w.push({ t, cpu: cpuSeconds(processCpu(r.pid)) });
      while (w.length > 1 && t - w[1]!.t >= QUIET_MS) w.shift();
      const first = w[0]!;
      return t - first.t >= QUIET_MS && w[w.length - 1]!.cpu - first.cpu <= QUIET_SHARE * ((t - first.t) / 1000) + CPU_RESOLUTION_S;
    });
    if (quiet.every(Boolean) || t - heldAt > MAX_HOLD_MS) break;
    await sleep(50);
  }
  const begins = readers.map((r) => processCpu(r.pid));
  const t0 = performance.now();
  for (const r of readers) r.tap.release();
  debug(`released after ${((t0 - heldAt) / 1000).toFixed(1)} s (${quiet.every(Boolean) ? 'quiet' : 'NOT quiet'})`);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(readers.map((r) => r.ended)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the backlog was not read in 300 s: ${readers.map((r) => `${r.script} ${r.tap.delivered} records`).join('; ')}`)),
        300_000,
      );
    }),
    ...readers.map((r) => r.child.exit.then(() => Promise.reject(failed(r)))),
  ]).finally(() => clearTimeout(timer));
  return readers.map((r, i) => {
    const end = r.end!;
    const begin = begins[i]!;
    debug(`${r.script}: done in ${((end.at - t0) / 1000).toFixed(1)} s, ${(cpuSeconds(end.cpu) - cpuSeconds(begin)).toFixed(2)} s CPU`);
    return {
      cpu: { user: end.cpu.user - begin.user, system: end.cpu.system - begin.system },
      wallS: (end.at - t0) / 1000,
      startupS: cpuSeconds(begin),
      quiet: quiet[i]!,
    };
  });
}

interface Scrape {
  payments: number;
  outputs: number;
  rejected: number;
  irregular: number;
}

async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const s: Scrape = { payments: 0, outputs: 0, rejected: 0, irregular: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', v] = m;
    const value = Number(v);
    if (name === 'payments_records_read_total' && labels.includes('"PAYMENT_EVENT"')) s.payments += value;
    else if (name === 'payments_alerts_emitted_total' || name === 'payments_summaries_emitted_total') s.outputs += value;
    else if (name === 'payments_records_rejected_total') s.rejected += value;
    else if (name === 'payments_irregular_payments_total') s.irregular += value;
  }
  return s;
}

const dir = await mkdtemp(join(tmpdir(), 'sca-bench-cpu-'));
const emulator = await startKinesisEmulator();
const client = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
try {
  // ---- the backlog ----
  const rows = generateCards({ count: 1_000_000, seed: 1, stolenRatio: 0.1 });
  const cardEnv = await processorCardEnv(dir, rows);
  await ensureStream(client, STREAM, SHARDS);
  const ranges = (await listAllShards(client, STREAM)).map((s) => ({
    id: s.ShardId!,
    start: BigInt(s.HashKeyRange!.StartingHashKey!),
    end: BigInt(s.HashKeyRange!.EndingHashKey!),
  }));
  const shardOf = (key: string): string => {
    const h = md5(key);
    return ranges.find((r) => h >= r.start && h <= r.end)!.id;
  };
  // Event time: COUNT − SHARDS payments 10 000/s from a summary boundary, all stamped minutes before
  // they arrive (none ahead of its arrival); then one payment per shard 10 s after the last, of a
  // card that is not stolen, so that the watermark passes every alert window and summary boundary
  // of the backlog while it is read (as later traffic would), not on the idle timeout after it.
  const startMs = Math.floor((Date.now() - 150_000) / 10_000) * 10_000;
  const keys: string[] = [];
  const data = encodePayments(
    { all: rows.map((r) => r.cardNumber) },
    { count: COUNT - SHARDS, startMs, stepMs: STEP_MS, tweak: (e) => keys.push(e.data.card_number) },
  );
  const closers = ranges.map((r) => rows.find((c) => !c.stolen && shardOf(c.cardNumber) === r.id)!.cardNumber);
  const lastMs = startMs + Math.floor((COUNT - SHARDS - 1) * STEP_MS);
  data.push(
    ...encodePayments(
      { all: closers },
      { count: SHARDS, startMs: lastMs + 10_000, stepMs: 0, seed: 7, tweak: (e, i) => keys.push((e.data.card_number = closers[i]!)) },
    ),
  );
  const expected = new Map<string, number>(ranges.map((r) => [r.id, 0]));
  for (const k of keys) expected.set(shardOf(k), expected.get(shardOf(k))! + 1);
  const producer = new KinesisProducer(client, STREAM);
  const records: ProducerRecord[] = data.map((d, i) => ({ data: d, partitionKey: keys[i]! }));
  for (let i = 0; i < records.length; i += 10_000) await producer.send(records.slice(i, i + 10_000));
  await producer.close();
  debug(`backlog of ${COUNT} loaded: ${[...expected.values()].join(', ')} per shard`);
  const avgBytes = data.reduce((n, d) => n + d.byteLength, 0) / data.length;

  // ---- the runs: the processor and the bare reader side by side, each on the whole backlog ----
  const procRuns: Run[] = [];
  const bareRuns: Run[] = [];
  const outputs: number[] = [];
  let irregular = 0;
  for (let rep = 0; rep < REPS; rep++) {
    await ensureStream(client, OUTPUT, SHARDS);
    const port = await freePort();
    const processorEnv = {
      ...cardEnv,
      LEASE_TABLE: '',
      OUTPUT_STREAM: OUTPUT,
      STATE_DIR: join(dir, `state-${rep}`),
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      // A shard that has read all of its share would otherwise, 5 s later, advance its watermark
      // by the wall clock (the backlog is minutes old) and summarise every boundary up to now while
      // the other shards still read: work of the clock, not of the payments, and of timing.
      IDLE_TIMEOUT_MS: '3600000',
    };
    const readers: Reader[] = [];
    try {
      readers.push(await startReader('processor/src/main.ts', processorEnv, emulator.endpoint, expected));
      readers.push(await startReader('bench/lib/json-reader.ts', {}, emulator.endpoint, expected));
      const [proc, bare] = await readSideBySide(readers, expected.size);
      const s = await scrape(port);
      if (s.payments !== COUNT) throw new Error(`the processor read ${s.payments} payments, not ${COUNT}`);
      if (s.rejected > 0) throw new Error(`the processor rejected ${s.rejected} records of the backlog`);
      outputs.push(s.outputs);
      irregular += s.irregular;
      await stop(readers[1]!.child);
      const parsed = Number(/parsed (\d+)/.exec(readers[1]!.child.stdout())?.[1]);
      if (parsed !== COUNT) throw new Error(`the bare reader parsed ${parsed} records, not ${COUNT}`);
      procRuns.push(proc!);
      bareRuns.push(bare!);
    } finally {
      // Their state is thrown away: no clean stop needed.
      for (const r of readers) {
        await stop(r.child, 'SIGKILL');
        await r.tap.close();
      }
    }
    await client.send(new DeleteStreamCommand({ StreamName: OUTPUT }));
  }

  const usPer = (r: Run) => (cpuSeconds(r.cpu) / COUNT) * 1e6;
  const list = (xs: number[], digits = 2) => xs.map((x) => x.toFixed(digits)).join(', ');
  const split = (runs: Run[]) =>
    `user/system ${list(runs.map((r) => (r.cpu.user / COUNT) * 1e6))} / ${list(runs.map((r) => (r.cpu.system / COUNT) * 1e6))} µs; wall ${list(
      runs.map((r) => r.wallS),
      1,
    )} s`;
  const paired = procRuns.map((r, i) => usPer(r) / usPer(bareRuns[i]!));
  const notQuiet = [...procRuns, ...bareRuns].filter((r) => !r.quiet).length;
  emit([
    relative(
      'cpu per payment: processor, end to end',
      'µs/payment',
      procRuns.map(usPer),
      bareRuns.map(usPer),
      'ratio <= 2.0',
      (x) => x <= 2.0,
      `${COUNT} payments (~${Math.round(avgBytes)} B) already in ${SHARDS} kinesalite shards, event time 10 000/s, 1 M cards (10 % stolen); process CPU (user + system, all threads, ${CPU_RESOLUTION_S * 1000} ms resolution) from the first GetRecords let through to the last shard's second call after its last records; baseline = the bare reader, reading side by side with it; ${REPS} runs; ratio per run ${list(paired)}; ${split(procRuns)}${notQuiet > 0 ? `; ${notQuiet} run(s) not quiet after ${MAX_HOLD_MS / 1000} s of start-up` : ''}${irregular > 0 ? `; ${irregular} irregular payments` : ''}`,
    ),
    info(
      'cpu per payment: bare reader (GetRecords + JSON.parse)',
      'µs/payment',
      bareRuns.map(usPer),
      `same client, reader settings (10 000 per call, 500 ms pacing, prefetch) and records; ${split(bareRuns)}`,
    ),
    info(
      'cpu: processor start-up (left out above)',
      's',
      procRuns.map((r) => round(r.startupS, 2)),
      'process CPU from its start until its first GetRecords calls were let through (tsx, 1 M-card file, LevelDB, quiet for 1 s)',
    ),
    info(
      'cpu: processor outputs during the backlog',
      'records',
      outputs,
      `alerts + summaries acknowledged by the output stream (${OUTPUT}, not read back) by the end`,
    ),
  ]);
} finally {
  client.destroy();
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}
