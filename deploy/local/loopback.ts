/** Serving an npm-packaged AWS emulator (an http.Server) on this machine's loopback only. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

export interface LocalEmulator {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0 picks a free port) and gives back the endpoint and a close(). */
export async function serveOnLoopback(server: Server, port = 0): Promise<LocalEmulator> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Keep-alive sockets of SDK clients would otherwise hold close() open.
        server.closeAllConnections?.();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** A TCP port free on 127.0.0.1 right now (for tests and benchmarks that start servers). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
