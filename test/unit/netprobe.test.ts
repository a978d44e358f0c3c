// httpGet and tcpSocket probes against servers of the test's own on loopback: what counts
// as healthy, what the output says, that a large body is not read whole, and that a server
// that never answers is a timeout, not a hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { OUTPUT_MAX, boundedText, httpProbe, tcpProbe } from '../../src/probe/net.js';
import { freePort, listenLocal } from '../harness/net.js';

async function serve(handler: http.RequestListener): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  const port = await listenLocal(server);
  return { port, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

test('httpGet: 2xx and 3xx are healthy, with the status and the body as output', async () => {
  const s = await serve((req, res) => {
    if (req.url === '/ok') res.end('fine\n');
    else if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
    else res.writeHead(503).end('down');
  });
  try {
    assert.deepEqual(await httpProbe('127.0.0.1', s.port, '/ok', 1000), { healthy: true, code: 200, output: 'HTTP 200: fine' });
    assert.deepEqual(await httpProbe('127.0.0.1', s.port, '/moved', 1000), { healthy: true, code: 302, output: 'HTTP 302' });
    assert.deepEqual(await httpProbe('127.0.0.1', s.port, '/x', 1000), { healthy: false, code: 503, output: 'HTTP 503: down' });
  } finally {
    await s.close();
  }
});

test('httpGet: a large body is cut at OUTPUT_MAX bytes and not read to its end', async () => {
  let ended = false;
  const s = await serve((_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const more = (): void => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent < 64) res.once('drain', more);
      else (res.end(), (ended = true));
    };
    more();
  });
  try {
    const r = await httpProbe('127.0.0.1', s.port, '/', 2000);
    assert.equal(r.healthy, true);
    assert.ok(r.output.length < OUTPUT_MAX + 100, `output of ${r.output.length} characters`);
    assert.match(r.output, /first 4096 kept\)$/);
    assert.equal(ended, false, 'the probe did not wait for 4 MiB');
  } finally {
    await s.close();
  }
});

test('httpGet: a refused connection and a server that never answers are failures', async () => {
  const port = await freePort();
  const refused = await httpProbe('127.0.0.1', port, '/', 1000);
  assert.equal(refused.healthy, false);
  assert.match(refused.output, /ECONNREFUSED/);
  const s = await serve(() => undefined); // never answers
  try {
    const r = await httpProbe('127.0.0.1', s.port, '/', 200);
    assert.deepEqual(r, { healthy: false, output: 'GET /: no answer within 200 ms', timedOut: true });
  } finally {
    await s.close();
  }
});

test('tcpSocket: healthy when the connection opens, unhealthy when refused', async () => {
  const server = net.createServer((c) => c.destroy());
  const port = await listenLocal(server);
  try {
    assert.equal((await tcpProbe('127.0.0.1', port, 1000)).healthy, true);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const r = await tcpProbe('127.0.0.1', port, 1000);
  assert.equal(r.healthy, false);
  assert.match(r.output, /ECONNREFUSED/);
});

test('boundedText keeps whole characters and says how much there was', () => {
  assert.equal(boundedText(Buffer.from('héllo')), 'héllo');
  const long = Buffer.from('é'.repeat(OUTPUT_MAX)); // 2 bytes each: the cut falls inside one
  const text = boundedText(long);
  assert.ok(!text.includes('\uFFFD'));
  assert.match(text, new RegExp(`\\(${long.length} bytes, first ${OUTPUT_MAX} kept\\)$`));
});
