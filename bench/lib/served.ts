/**
 * An emulator run in a process of its own for a bench, so that its work (hashing a 20 MB PUT,
 * encoding a GetRecords answer) never runs on a thread being timed, as AWS's never does.
 *
 * The script is started as `node --import tsx <script> --serve <args…>`, prints the port it
 * listens on as its first line of stdout and serves until it is killed.
 */
import { spawn } from 'node:child_process';

export interface ServedChild {
  port: number;
  stop: () => Promise<void>;
}

export async function serveFromChild(script: string, args: string[]): Promise<ServedChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it served`)));
  });
  return {
    port,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** True in the child that `serveFromChild(self, …)` started. */
export const isServeCall = (self: string): boolean => process.argv[1] === self && process.argv[2] === '--serve';
