/**
 * kinesis-local (npm: a Scala.js build of kinesis-mock), the one npm Kinesis emulator that
 * implements enhanced fan-out (RegisterStreamConsumer, SubscribeToShard). kinesalite stays the
 * local stack's emulator (faster, patched); this one serves the fan-out tests. It runs as a child
 * process, in memory, on a free port unless one is given, and takes a few seconds to start.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { freePort, type LocalEmulator } from './loopback.js';

export async function startKinesisLocal(options: { port?: number; registerConsumerMs?: number } = {}): Promise<LocalEmulator> {
  const dir = dirname(createRequire(import.meta.url).resolve('kinesis-local/package.json'));
  const cwd = await mkdtemp(join(tmpdir(), 'sca-kinesis-local-'));
  const [plain, tls] = [options.port ?? (await freePort()), await freePort()];
  const child = spawn(process.execPath, [join(dir, 'main.js')], {
    cwd,
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      // Without it, it looks for server.json in its working directory and dies at start.
      KINESIS_MOCK_CERT_PATH: join(dir, 'server.json'),
      LOAD_DATA_IF_EXISTS: 'false',
      SHOULD_PERSIST_DATA: 'false',
      CREATE_STREAM_DURATION: '0ms',
      UPDATE_STREAM_DURATION: '0ms',
      REGISTER_STREAM_CONSUMER_DURATION: `${options.registerConsumerMs ?? 300}ms`,
      LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-10_000)));
  child.stderr.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-10_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(cwd, { recursive: true, force: true });
  };
  const endpoint = `http://127.0.0.1:${plain}`;
  const client = createKinesisClient({ region: 'us-east-1', endpoint });
  try {
    for (let i = 0; ; i++) {
      try {
        await client.send(new DescribeStreamSummaryCommand({ StreamName: 'none' }));
        break;
      } catch (e) {
        if ((e as Error).name === 'ResourceNotFoundException') break;
        if (i > 300 || child.exitCode !== null) throw new Error(`kinesis-local did not start: ${String(e)}\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (error) {
    await close();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port: plain, close };
}
