// The leftover task bundle of containerd 1.6/1.7: which errors name one, and which bundles
// converge removes (only those no shim started from, of known contents, quiet for a while).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, lutimesSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clearStaleBundle, leftoverBundleOf, STALE_AFTER_MS } from '../../src/containerd/stale-bundle.js';

const err = (p: string) => new Error(`tasks.Create: failed to start shim: mkdir ${p}: file exists: 2 UNKNOWN: failed to start shim: mkdir ${p}: file exists`);
const STATE = '/run/containerd/io.containerd.runtime.v2.task';

test('names the bundle of this namespace and container only', () => {
  assert.equal(leftoverBundleOf(err(`${STATE}/ns/default.web`), 'ns', 'default.web'), `${STATE}/ns/default.web`);
  assert.equal(leftoverBundleOf(err(`${STATE}/other/default.web`), 'ns', 'default.web'), undefined);
  assert.equal(leftoverBundleOf(err(`${STATE}/ns/default.db`), 'ns', 'default.web'), undefined);
  assert.equal(leftoverBundleOf(err(`/etc/../run/io.containerd.runtime.v2.task/ns/default.web`), 'ns', 'default.web'), undefined);
  assert.equal(leftoverBundleOf(err(`relative/io.containerd.runtime.v2.task/ns/default.web`), 'ns', 'default.web'), undefined);
  assert.equal(leftoverBundleOf(new Error('task default.web: already exists'), 'ns', 'default.web'), undefined);
});

/** A bundle as containerd 1.6 leaves it when it dies before the shim's `runtime` file. */
function leftover(t: { after(fn: () => void): void }, extra: (dir: string) => void = () => undefined): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'converge-bundle-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const work = path.join(base, 'work-dir');
  mkdirSync(work);
  const dir = path.join(base, 'default.web');
  mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), '{}');
  writeFileSync(path.join(dir, 'log'), '');
  symlinkSync(work, path.join(dir, 'work'));
  extra(dir);
  return dir;
}

function age(dir: string, ms: number): void {
  const then = new Date(Date.now() - ms);
  for (const e of readdirSync(dir)) lutimesSync(path.join(dir, e), then, then);
  utimesSync(dir, then, then);
}

test('removes a bundle no shim started from, quiet for a while, without following its work link', (t) => {
  const dir = leftover(t);
  age(dir, STALE_AFTER_MS + 1000);
  return clearStaleBundle(dir).then((r) => {
    assert.deepEqual(r, { cleared: true, path: dir });
    assert.equal(existsSync(dir), false);
    assert.equal(existsSync(path.join(path.dirname(dir), 'work-dir')), true, 'the work dir it linked to is left to containerd');
  });
});

test('leaves a bundle that changed in the last seconds: a Create containerd still carries out', async (t) => {
  const dir = leftover(t);
  const r = await clearStaleBundle(dir);
  assert.equal(r.cleared, false);
  assert.match(r.cleared ? '' : r.why, /changed/);
  assert.equal(existsSync(path.join(dir, 'config.json')), true);
});

test('removes a bundle whose shim is gone: its socket refuses, or is not there', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'converge-sock-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  // A path nothing listens on (connect refuses it, as it does a killed shim's socket), and none.
  const dead = path.join(base, 'dead.sock');
  writeFileSync(dead, '');
  for (const address of [`unix://${dead}`, `unix://${path.join(base, 'missing.sock')}`]) {
    const dir = leftover(t, (d) => {
      writeFileSync(path.join(d, 'address'), address);
      writeFileSync(path.join(d, 'shim.pid'), '12345');
    });
    age(dir, STALE_AFTER_MS + 1000);
    assert.deepEqual(await clearStaleBundle(dir), { cleared: true, path: dir }, address);
  }
});

test('leaves a bundle a live shim serves, one with unknown files, and one whose rootfs has files', async (t) => {
  const sockDir = mkdtempSync(path.join(os.tmpdir(), 'converge-sock-'));
  const listening = path.join(sockDir, 'shim.sock');
  const server = createServer((c) => c.end());
  await new Promise<void>((r) => server.listen(listening, r));
  t.after(() => {
    server.close();
    rmSync(sockDir, { recursive: true, force: true });
  });
  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    ['address', (d) => writeFileSync(path.join(d, 'address'), `unix://${listening}`), /shim answers/],
    ['odd address', (d) => writeFileSync(path.join(d, 'address'), 'vsock://3:1024'), /shim answers/],
    ['unknown', (d) => writeFileSync(path.join(d, 'init.pid'), '1'), /holds init.pid/],
    ['rootfs', (d) => writeFileSync(path.join(d, 'rootfs', 'bin'), ''), /rootfs is not empty/],
  ];
  for (const [name, extra, why] of cases) {
    const dir = leftover(t, extra);
    age(dir, STALE_AFTER_MS + 1000);
    const r = await clearStaleBundle(dir);
    assert.equal(r.cleared, false, name);
    assert.match(r.cleared ? '' : r.why, why, name);
    assert.equal(existsSync(path.join(dir, 'config.json')), true, `${name}: nothing removed`);
  }
});

test('a bundle not visible from converge is reported, not an error', async () => {
  const r = await clearStaleBundle('/nonexistent/io.containerd.runtime.v2.task/ns/default.web');
  assert.deepEqual(r, { cleared: false, path: '/nonexistent/io.containerd.runtime.v2.task/ns/default.web', why: 'not visible from converge' });
});
