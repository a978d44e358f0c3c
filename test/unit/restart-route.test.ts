// POST /v1/restart and the scrape-time metrics, against a fake controller: the answers of
// the route (bad key, unknown, refused, queued, done, failed, timed out), the guard in
// front of it, and the series /metrics reads at each scrape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Controller, ReconcileEvent, RestartAsk } from '../../src/reconcile/controller.js';
import { restartRoute } from '../../src/publish/restart.js';
import { collectAtScrape, createMetrics, observePull } from '../../src/publish/metrics.js';
import { startServer, type StatusServer } from '../../src/publish/http.js';

const log = pino({ level: 'silent' });

function fakeController(answer: (key: string) => RestartAsk, then?: (key: string) => ReconcileEvent | undefined) {
  const listeners = new Set<(e: ReconcileEvent) => void>();
  const asked: string[] = [];
  const controller: Pick<Controller, 'requestRestart' | 'onReconcile'> = {
    requestRestart(key) {
      asked.push(key);
      const ask = answer(key);
      const e = ask.ok ? then?.(key) : undefined;
      // The reconcile that restarts it runs later, as the worker would.
      if (e) setImmediate(() => listeners.forEach((l) => l(e)));
      return ask;
    },
    onReconcile(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  return { controller, asked, listeners };
}

async function serve(t: { after(fn: () => unknown): void }, controller: Pick<Controller, 'requestRestart' | 'onReconcile'>, opts: { token?: string; extraWaitMs?: number } = {}): Promise<StatusServer> {
  const server = await startServer('127.0.0.1:0', {
    ready: () => true, status: () => [], metrics: createMetrics(), log,
    routes: [restartRoute(controller, opts.extraWaitMs)],
    security: { token: opts.token },
  });
  t.after(() => server.close());
  return server;
}

async function post(server: StatusServer, p: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://${server.address}${p}`, { method: 'POST', headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const OK: RestartAsk = { ok: true, pid: 41, restarts: 2, graceMs: 0 };

test('POST /v1/restart?wait=1 answers once the new task runs, with both pids and the new count', async (t) => {
  const { controller, asked, listeners } = fakeController(() => OK, (key) => ({ key, action: 'restart', pid: 42 }));
  const server = await serve(t, controller);
  const res = await post(server, '/v1/restart?key=default/web&wait=1');
  assert.deepEqual(res, { status: 200, body: { key: 'default/web', action: 'restart', oldPid: 41, pid: 42, restarts: 3 } });
  assert.deepEqual(asked, ['default/web']);
  assert.equal(listeners.size, 0, 'the listener goes with the request');
});

test('POST /v1/restart: bad key 400, unknown 404, refused 409, without wait 202, a failed restart 500, none in time 504', async (t) => {
  const refusals: Record<string, RestartAsk> = {
    'default/gone': { ok: false, status: 404, error: 'no container default/gone' },
    'default/paused': { ok: false, status: 409, error: 'paused' },
  };
  const { controller, asked } = fakeController(
    (key) => refusals[key] ?? OK,
    (key) => (key === 'default/broken' ? { key, action: 'restart', error: { code: 'Unknown', message: 'exec failed' } } : key === 'default/web' ? { key, action: 'restart', pid: 9 } : undefined),
  );
  const server = await serve(t, controller, { extraWaitMs: 50 });
  assert.equal((await post(server, '/v1/restart?key=Web')).status, 400);
  assert.equal((await post(server, '/v1/restart')).status, 400);
  assert.equal(asked.length, 0, 'a bad key asks nothing');
  assert.deepEqual(await post(server, '/v1/restart?key=default/gone&wait=1'), { status: 404, body: { error: 'no container default/gone' } });
  assert.equal((await post(server, '/v1/restart?key=default/paused&wait=1')).status, 409);
  assert.deepEqual(await post(server, '/v1/restart?key=default/web'), { status: 202, body: { key: 'default/web', restarting: true, pid: 41 } });
  assert.deepEqual(await post(server, '/v1/restart?key=default/broken&wait=1'), { status: 500, body: { error: 'Unknown: exec failed', key: 'default/broken' } });
  assert.equal((await post(server, '/v1/restart?key=default/slow&wait=1')).status, 504);
});

test('POST /v1/restart needs the bearer token once one is set', async (t) => {
  const { controller, asked } = fakeController(() => OK);
  const server = await serve(t, controller, { token: 'a-token-of-enough-length' });
  assert.equal((await post(server, '/v1/restart?key=default/web')).status, 401);
  assert.equal(asked.length, 0);
  assert.equal((await post(server, '/v1/restart?key=default/web', { authorization: 'Bearer a-token-of-enough-length' })).status, 202);
});

test('collectAtScrape: per-container series follow what the runtime reads; queue and sources from the controller', async () => {
  const metrics = createMetrics({ version: '1.2.3' });
  let usage = [
    { namespace: 'default', name: 'web', cpuSeconds: 1.5, memoryBytes: 2048, memoryLimitBytes: 4096 },
    { namespace: 'shop', name: 'db', cpuSeconds: 0, memoryBytes: 10, memoryLimitBytes: null },
  ];
  collectAtScrape(metrics, { usage: async () => usage, queueDepth: () => 3, sourceSyncs: () => new Map([['dir:/specs', 1_700_000_000_000]]) });
  observePull(metrics, { ms: 1500, bytes: 1000, ok: true });
  let text = await metrics.registry.metrics();
  assert.match(text, /^converge_build_info\{version="1\.2\.3"\} 1$/m);
  assert.match(text, /^converge_container_cpu_seconds_total\{namespace="default",name="web"\} 1\.5$/m);
  assert.match(text, /^converge_container_memory_bytes\{namespace="shop",name="db"\} 10$/m);
  assert.match(text, /^converge_container_memory_limit_bytes\{namespace="default",name="web"\} 4096$/m);
  assert.doesNotMatch(text, /converge_container_memory_limit_bytes\{namespace="shop"/);
  assert.match(text, /^converge_queue_depth 3$/m);
  assert.match(text, /^converge_source_last_sync_timestamp_seconds\{source="dir:\/specs"\} 1700000000$/m);
  assert.match(text, /^converge_image_pull_bytes_total 1000$/m);
  assert.match(text, /^converge_image_pull_duration_seconds_count\{result="ok"\} 1$/m);
  assert.doesNotMatch(text, /^process_/m, 'process metrics only when asked for');
  usage = [];
  text = await metrics.registry.metrics();
  assert.doesNotMatch(text, /name="web"/, 'a container that is gone has no series');
  // A runtime that cannot be read leaves the series out of that scrape, and the scrape works.
  const down = createMetrics();
  collectAtScrape(down, { usage: () => Promise.reject(new Error('down')) });
  assert.doesNotMatch(await down.registry.metrics(), /^converge_container_cpu_seconds_total\{/m);
});

test('createMetrics: Node\'s process metrics without the converge_ prefix', async () => {
  const text = await createMetrics({ processMetrics: true }).registry.metrics();
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.match(text, /^process_resident_memory_bytes /m);
  assert.doesNotMatch(text, /^converge_process_/m);
});
