// End to end, against a real containerd: /metrics of a running converge. Node's process
// metrics without a prefix, the build info, per-container CPU, memory, limit and restarts
// that come with a container and go with it, the reconcile histogram, the queue depth and
// each source's last sync.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { container, Env, sh, sleeper, waitFor, type Converge } from './util.js';
import { VERSION } from '../../src/version.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

/** Every sample of the exposition: `name{labels}` -> value. */
async function scrape(c: Converge): Promise<Map<string, number>> {
  const res = await c.http('/metrics');
  assert.equal(res.status, 200);
  const out = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const series = (m: Map<string, number>, prefix: string): string[] => [...m.keys()].filter((k) => k.startsWith(prefix));

describe('/metrics', () => {
  it('has process metrics without a prefix, build info, and per-container series while the container runs', async (t) => {
    const s = await env.scenario(t, 'metrics');
    const c = await s.run();
    s.write('busy.yaml', container('busy', { ...sh('while :; do :; done'), resources: { limits: { memory: '64Mi' } } }));
    s.write('idle.yaml', container('idle', sleeper()));
    await s.waitRunning('default.busy', { converge: c });
    await c.waitReady();
    const busy = '{namespace="default",name="busy"}';
    let m = await waitFor(async () => {
      const now = await scrape(c);
      return (now.get(`converge_container_cpu_seconds_total${busy}`) ?? 0) > 0 && now.has('converge_container_memory_bytes{namespace="default",name="idle"}') ? now : undefined;
    }, { what: 'CPU seconds of busy and memory of idle on /metrics', detail: () => c.tail() });
    assert.ok((m.get('process_cpu_seconds_total') ?? 0) > 0);
    assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
    assert.deepEqual(series(m, 'converge_process_'), []);
    assert.equal(m.get(`converge_build_info{version="${VERSION}"}`), 1);
    assert.ok((m.get(`converge_container_memory_bytes${busy}`) ?? 0) > 0);
    assert.equal(m.get(`converge_container_memory_limit_bytes${busy}`), 64 * 1024 * 1024);
    assert.equal(m.has('converge_container_memory_limit_bytes{namespace="default",name="idle"}'), false);
    assert.equal(m.get(`converge_container_restarts${busy}`), 0);
    assert.ok((m.get('converge_reconcile_duration_seconds_count{result="ok"}') ?? 0) >= 2);
    assert.equal(m.get('converge_queue_depth'), 0);
    const synced = m.get(`converge_source_last_sync_timestamp_seconds{source="dir:${s.specDir}"}`) ?? 0;
    assert.ok(Math.abs(synced - Date.now() / 1000) < 600, `last sync ${synced}`);
    assert.equal(m.get('converge_image_pull_bytes_total'), 0); // the test image is imported, never pulled

    // A restart shows on the restart gauge; the removed container's series go.
    const before = await s.waitRunning('default.busy');
    await s.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'default.busy']);
    await s.waitRunning('default.busy', { notPid: before, converge: c });
    await waitFor(async () => (await scrape(c)).get(`converge_container_restarts${busy}`) === 1, { what: 'busy: 1 restart on /metrics' });
    s.remove('busy.yaml');
    await s.waitGone('default.busy');
    m = await waitFor(async () => {
      const now = await scrape(c);
      return series(now, 'converge_container_').some((k) => k.includes('name="busy"')) ? undefined : now;
    }, { what: 'no series of busy on /metrics', detail: () => c.tail() });
    assert.ok(m.has('converge_container_memory_bytes{namespace="default",name="idle"}'));
  });
});
