// End to end: autoUpdate: registry against a real registry on loopback (Debian's
// docker-registry) and a real containerd. An image pushed anew under the same tag is
// followed (checks cost one HEAD and no blob); a pushed image whose container exits 1 is
// rolled back and not tried again until the tag moves; `converge auto-update [--dry-run]`
// asks the running controller; image collection leaves exactly the images in use.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LABEL_FAILED_DIGEST, LABEL_IMAGE_DIGEST } from '../../src/containerd/labels.js';
import { pushBusybox, startRegistry, type Registry } from '../harness/registry.js';
import { pushVariant } from '../harness/variant.js';
import { cli, container, Env, holds, sh, waitFor, type Converge, type Scenario } from './util.js';

let env: Env;
let reg: Registry;
before(async () => {
  env = await Env.start();
  reg = await startRegistry();
  await pushBusybox(reg, 'app', 'base');
});
after(async () => {
  await reg?.cleanup();
  await env?.cleanup();
});

/** Prints the image's /etc/variant; exits 1 when it says "bad". */
const SCRIPT = "v=$(cat /etc/variant 2>/dev/null || echo base); echo \"variant $v\"; [ \"$v\" = bad ] && exit 1; trap 'exit 0' TERM; sleep 3600 & wait";

function spec(repo: string) {
  const doc = container('app', { ...sh(SCRIPT), image: `${reg.host}/${repo}:latest`, autoUpdate: 'registry', terminationGracePeriodSeconds: 2 });
  delete doc.spec.imagePullPolicy; // :latest: Always, as a user would leave it
  return doc;
}

async function start(s: Scenario, repo: string, interval = '1s'): Promise<Converge> {
  s.write('app.yaml', spec(repo));
  return s.run(['--auto-update-interval', interval, '--auto-update-rollback-window', '2s', '--backoff-initial', '50ms', '--backoff-max', '400ms']);
}

const images = async (s: Scenario): Promise<string[]> => (await s.ctr(['images', 'ls', '-q'])).split('\n').filter((l) => l.trim() !== '' && l.startsWith(reg.host)).sort();

describe('converge run: autoUpdate registry', () => {
  it('follows an image pushed anew under the same tag; checks cost one HEAD and no blob', async (t) => {
    const s = await env.scenario(t, 'upd');
    await pushBusybox(reg, 'follow', 'base');
    const first = await pushVariant(reg, 'follow', 'latest', 'base', 'one');
    const c = await start(s, 'follow');
    const row = await c.waitRow('app', (r) => r.phase === 'Running' && r.imageDigest === first, 'running on the first digest');
    assert.equal(row.updatePhase, 'Idle');
    // A few checks with nothing new: HEADs of the manifest, nothing else.
    const hashBefore = (await s.get('default.app'))?.specHash;
    const seen = reg.requests.length;
    const since = () => reg.requests.slice(seen).filter((r) => r.path.includes('/follow/'));
    await waitFor(() => since().length >= 3, { what: 'three checks', detail: () => JSON.stringify(since()) });
    const idle = since();
    assert.ok(idle.every((r) => r.method === 'HEAD' && r.path === '/v2/follow/manifests/latest'), JSON.stringify(idle));

    const pushedAt = Date.now();
    const second = await pushVariant(reg, 'follow', 'latest', 'base', 'two');
    const updated = await c.waitRow('app', (r) => r.lastUpdate?.outcome === 'Updated' && r.imageDigest === second, 'updated to the second digest', 30_000);
    t.diagnostic(`new digest pushed -> outcome Updated: ${Date.now() - pushedAt} ms (window 2 s)`);
    assert.equal(updated.lastUpdate?.from, first);
    assert.equal(updated.restarts, 0, 'a new container, not a restart');
    assert.match(s.logOf('default.app'), /variant one\n(.*\n)*variant two\n/);
    const a = await s.get('default.app');
    assert.equal(a?.labels[LABEL_IMAGE_DIGEST], second);
    assert.equal(a?.specHash, hashBefore, 'the spec hash is unchanged: the digest is a label of its own');
    assert.deepEqual(c.actions('default/app').map((l) => l.action), ['create', 'recreate']);
    assert.match(String(c.actions('default/app')[1].reason), /^auto-update sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12}$/);
    const metrics = (await c.http('/metrics')).body;
    assert.match(metrics, /converge_auto_updates_total\{outcome="Updated"\} 1/);
    // Collected: the first digest's image went once the update was done; the tag and the digest in use stay.
    await waitImages(s, [`${reg.host}/follow:latest`, `${reg.host}/follow@${second}`]);
  });

  it('rolls back a pushed image whose container exits 1, and does not try it again until the tag moves', async (t) => {
    const s = await env.scenario(t, 'rollback');
    await pushBusybox(reg, 'rb', 'base');
    const good = await pushVariant(reg, 'rb', 'latest', 'base', 'good');
    const c = await start(s, 'rb');
    await c.waitRow('app', (r) => r.phase === 'Running' && r.imageDigest === good, 'running on the good digest');
    const bad = await pushVariant(reg, 'rb', 'latest', 'base', 'bad');
    const rolled = await c.waitRow('app', (r) => r.lastUpdate?.outcome === 'RolledBack' && r.updatePhase === 'Idle' && r.imageDigest === good && r.phase === 'Running', 'rolled back to the good digest', 30_000);
    assert.equal(rolled.lastUpdate?.from, bad);
    assert.equal(rolled.lastUpdate?.to, good);
    assert.match(String(rolled.lastUpdate?.reason), /exited with code 1/);
    assert.equal((await s.get('default.app'))?.labels[LABEL_FAILED_DIGEST], bad);
    const failed = c.find((l) => l.msg === 'auto-update failed; rolling back');
    assert.equal(failed.length, 1);
    // Not tried again: intervals pass with the bad digest still under the tag.
    const pulledBefore = c.find((l) => l.msg === 'auto-update: new digest pulled; recreating').length;
    await holds(() => assert.equal(c.find((l) => l.msg === 'auto-update: new digest pulled; recreating').length, pulledBefore), 3_000, 250);
    assert.match((await c.http('/metrics')).body, /converge_auto_updates_total\{outcome="RolledBack"\} 1/);
    const status = await cli(['status', '--state-dir', s.stateDir]);
    assert.match(status.stdout, /auto-update to [0-9a-f]{12} rolled back at .*: exited with code 1/);
    // The bad image is collected; the good one (in use) and the tag stay.
    await waitImages(s, [`${reg.host}/rb:latest`, `${reg.host}/rb@${good}`]);
    // ...and with it its content: containerd collected what only that record held.
    const content = (await s.ctr(['content', 'ls', '-q'])).split('\n').map((l) => l.trim());
    assert.ok(!content.includes(bad), 'the bad manifest is gone from the content store');
    assert.ok(content.includes(good), 'the good one stays');
    // The tag moves on: the new digest is tried.
    const fixed = await pushVariant(reg, 'rb', 'latest', 'base', 'fixed');
    await c.waitRow('app', (r) => r.lastUpdate?.outcome === 'Updated' && r.imageDigest === fixed, 'updated once the tag moved', 30_000);
  });

  it('converge auto-update --dry-run says what would change; converge auto-update changes it', async (t) => {
    const s = await env.scenario(t, 'updcli');
    await pushBusybox(reg, 'cli', 'base');
    const one = await pushVariant(reg, 'cli', 'latest', 'base', 'one');
    const c = await start(s, 'cli', '1h');
    await c.waitRow('app', (r) => r.phase === 'Running' && r.imageDigest === one, 'running');
    let res = await cli(['auto-update', '--state-dir', s.stateDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^default\/app\s+current\s+.*up to date/m);
    const two = await pushVariant(reg, 'cli', 'latest', 'base', 'two');
    res = await cli(['auto-update', '--dry-run', '--state-dir', s.stateDir]);
    assert.match(res.stdout, new RegExp(`default/app\\s+would-update\\s+.*would update ${one.slice(0, 19)} -> ${two.slice(0, 19)}`));
    await holds(async () => assert.equal((await c.row('app'))?.imageDigest, one), 1_000);
    res = await cli(['auto-update', '--state-dir', s.stateDir]);
    assert.match(res.stdout, /default\/app\s+updating\s+/);
    await c.waitRow('app', (r) => r.imageDigest === two && r.lastUpdate?.outcome === 'Updated', 'updated', 30_000);
  });
});

/** Waits until the app images in containerd are exactly `want` (collection runs each interval). */
async function waitImages(s: Scenario, want: string[]): Promise<void> {
  let last: string[] = [];
  await waitFor(async () => {
    last = await images(s);
    return JSON.stringify(last) === JSON.stringify([...want].sort());
  }, { what: `images ${want.join(', ')}`, timeoutMs: 20_000, detail: () => `images: ${last.join(', ')}` });
}
