/**
 * The HTTP/1.1 handler local endpoints get (common/src/kinesis.ts) must drop an idle kept-alive
 * socket before the server closes it. Node servers, the emulators among them, close idle sockets
 * after `keepAliveTimeout` and announce it as `Keep-Alive: timeout=N`; a request written on a socket
 * idle past that failed with ECONNRESET (seen in CI: bad-input.test.ts's first PutRecords, ~5 s
 * after the stream was created). The server here is a plain Node one with a 3 s keep-alive (so the
 * client drops idle sockets after 2 s): the pauses stay short and each step keeps ≥ 0.5 s of slack.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../src/kinesis.js';
import { serveOnLoopback } from '../../deploy/local/loopback.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('an idle socket is dropped before the server keep-alive ends it, and reused before that', async (t) => {
  let connections = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end('{"StreamNames":[],"HasMoreStreams":false}');
    });
  });
  server.keepAliveTimeout = 3_000;
  server.on('connection', () => connections++);
  const local = await serveOnLoopback(server);
  const client = createKinesisClient({ region: 'us-east-1', endpoint: local.endpoint });
  t.teardown(async () => {
    client.destroy();
    await local.close();
  });

  const call = () => client.send(new ListStreamsCommand({}));
  await call();
  t.equal(connections, 1, 'first call opens a connection');

  await sleep(300);
  await call();
  t.equal(connections, 1, 'a call 0.3 s later reuses it (keep-alive still works)');

  // Without the fix the socket was reused here and Node's server reset it: ECONNRESET.
  for (const pause of [2_500, 4_000]) {
    const before = connections;
    await sleep(pause);
    await t.resolves(call(), `a call after ${pause} ms idle succeeds`);
    t.equal(connections, before + 1, `after ${pause} ms idle it goes over a new connection`);
  }
});
