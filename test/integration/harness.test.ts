// Proves the integration harness: private containerds side by side, the busybox image
// imported and runnable, tasks surviving a containerd restart, and cleanup leaving nothing.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startContainerd, uniqueNamespace, type PrivateContainerd } from '../harness/containerd.js';
import { ctr } from '../harness/exec.js';
import { BUSYBOX_IMAGE, buildBusyboxArchive, importBusybox } from '../harness/image.js';
import { isAlive, listProcesses, mountsUnder, processesMentioning, shimsOf } from '../harness/procfs.js';
import { shimSocketPath } from '../harness/teardown.js';

const FIFO_ROOT = '/run/containerd/fifo';

async function runEcho(c: PrivateContainerd, namespace: string, id: string): Promise<string> {
  const { stdout } = await ctr(c.address, ['run', '--rm', BUSYBOX_IMAGE, id, '/bin/echo', 'hello'], { namespace });
  return stdout;
}

/** pid and status of one task, from `ctr tasks ls` (columns TASK PID STATUS). */
async function taskOf(c: PrivateContainerd, namespace: string, id: string): Promise<{ pid: number; status: string }> {
  const { stdout } = await ctr(c.address, ['tasks', 'ls'], { namespace });
  const row = stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => cols[0] === id);
  assert.ok(row, `task ${id} not listed:\n${stdout}`);
  return { pid: Number(row[1]), status: row[2] };
}

function cmdline(pid: number): string[] {
  return listProcesses().find((p) => p.pid === pid)?.args ?? [];
}

/** Everything the harness promises is gone after cleanup(). */
function assertNoLeftovers(c: PrivateContainerd, extra: { pids?: number[]; namespace?: string; id?: string } = {}): void {
  assert.equal(existsSync(c.dir), false, `${c.dir} still exists`);
  assert.deepEqual(processesMentioning(c.dir).map((p) => p.args.join(' ')), []);
  assert.deepEqual(mountsUnder(c.dir), []);
  assert.deepEqual(shimsOf(c.address), []);
  for (const pid of extra.pids ?? []) assert.equal(isAlive(pid), false, `pid ${pid} still alive`);
  if (extra.namespace !== undefined) {
    assert.equal(existsSync(`/run/containerd/runc/${extra.namespace}`), false, 'runc state dir left');
    for (const h of readdirSync('/sys/fs/cgroup')) {
      assert.equal(existsSync(`/sys/fs/cgroup/${h}/${extra.namespace}`), false, `cgroup ${h}/${extra.namespace} left`);
    }
    if (extra.id !== undefined) {
      const id = extra.id;
      assert.equal(existsSync(shimSocketPath(c.address, extra.namespace, id)), false, 'shim socket left');
      const fifos = existsSync(FIFO_ROOT) ? readdirSync(FIFO_ROOT).flatMap((d) => readdirSync(`${FIFO_ROOT}/${d}`)) : [];
      assert.deepEqual(fifos.filter((f) => f.startsWith(`${id}-`)), [], 'stdio FIFOs left');
    }
  }
}

describe('containerd test harness', () => {
  test('builds the image archive deterministically, once', async () => {
    const first = await buildBusyboxArchive();
    assert.equal(await buildBusyboxArchive(), first);
    assert.match(first, /converge-test-image-[0-9a-f]{16}\.tar$/);
  });

  test('two private containerds run busybox side by side, restart, and clean up', async (t) => {
    const started = Date.now();
    const [a, b] = await Promise.all([startContainerd(), startContainerd()]);
    t.diagnostic(`two containerds ready in ${Date.now() - started} ms`);
    const nsA = uniqueNamespace('h');
    const nsB = uniqueNamespace('h');
    // Container IDs unique across processes too, so the FIFO check sees only ours.
    const [echo1, echo2] = [uniqueNamespace('echo'), uniqueNamespace('echo')];
    try {
      assert.notEqual(a.address, b.address);
      assert.notEqual(a.pid, b.pid);
      const importStarted = Date.now();
      assert.deepEqual(await Promise.all([importBusybox(a.address, nsA), importBusybox(b.address, nsB)]), [
        BUSYBOX_IMAGE,
        BUSYBOX_IMAGE,
      ]);
      t.diagnostic(`two imports in ${Date.now() - importStarted} ms`);

      // Unpacked for overlayfs: the committed snapshot's key is the layer's chain ID, which
      // for a single layer is its diff ID from the image config.
      const { stdout: images } = await ctr(a.address, ['images', 'ls'], { namespace: nsA });
      const manifestDigest = /sha256:[0-9a-f]{64}/.exec(images.split('\n').find((l) => l.startsWith(BUSYBOX_IMAGE)) ?? '')?.[0];
      assert.ok(manifestDigest, images);
      const manifest = JSON.parse((await ctr(a.address, ['content', 'get', manifestDigest], { namespace: nsA })).stdout);
      const config = JSON.parse((await ctr(a.address, ['content', 'get', manifest.config.digest], { namespace: nsA })).stdout);
      assert.deepEqual(config.config.Cmd, ['sh']);
      const diffId: string = config.rootfs.diff_ids[0];
      const { stdout: snaps } = await ctr(a.address, ['snapshots', '--snapshotter', 'overlayfs', 'ls'], { namespace: nsA });
      assert.match(snaps, new RegExp(`^${diffId}\\s+Committed`, 'm'));

      assert.equal(await runEcho(a, nsA, echo1), 'hello\n');
      assert.equal(await runEcho(b, nsB, echo1), 'hello\n');

      const oldPid = a.pid;
      await a.stop();
      assert.equal(a.pid, 0);
      assert.equal(isAlive(oldPid), false);
      assert.equal(existsSync(a.address), false, 'a stopped containerd removes its socket');
      assert.equal(await runEcho(b, nsB, echo2), 'hello\n', 'b is not disturbed by a stopping');
      await a.start();
      assert.notEqual(a.pid, oldPid);
      assert.equal(await runEcho(a, nsA, echo2), 'hello\n');
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
    assertNoLeftovers(a, { namespace: nsA, id: echo2 });
    assertNoLeftovers(b, { namespace: nsB, id: echo2 });
  });

  test('a running task survives containerd stop, crash and start (the shim keeps it)', async () => {
    const c = await startContainerd();
    const ns = uniqueNamespace('h');
    const id = uniqueNamespace('sleeper'); // unique, so the FIFO check below sees only ours
    let pid = 0;
    try {
      await importBusybox(c.address, ns);
      await ctr(c.address, ['run', '-d', BUSYBOX_IMAGE, id, 'sleep', '3600'], { namespace: ns });
      const before = await taskOf(c, ns, id);
      pid = before.pid;
      assert.equal(before.status, 'RUNNING');
      assert.deepEqual(cmdline(pid), ['sleep', '3600']);

      await c.stop();
      assert.ok(isAlive(pid), 'task died with containerd');
      assert.equal(shimsOf(c.address).length, 1);
      await c.start();
      assert.deepEqual(await taskOf(c, ns, id), { pid, status: 'RUNNING' });

      await c.kill();
      assert.ok(isAlive(pid), 'task died with a containerd crash');
      await c.start();
      assert.deepEqual(await taskOf(c, ns, id), { pid, status: 'RUNNING' });
    } finally {
      await c.cleanup();
    }
    assertNoLeftovers(c, { pids: [pid], namespace: ns, id });
  });

  test('cleanup after a crash kills the orphaned shim and task and unmounts the rootfs', async () => {
    const c = await startContainerd();
    const ns = uniqueNamespace('h');
    const id = uniqueNamespace('orphan');
    let pid = 0;
    let shimPid = 0;
    try {
      await importBusybox(c.address, ns);
      await ctr(c.address, ['run', '-d', BUSYBOX_IMAGE, id, 'sleep', '3600'], { namespace: ns });
      pid = (await taskOf(c, ns, id)).pid;
      shimPid = shimsOf(c.address)[0]?.pid ?? 0;
      assert.ok(shimPid > 0);
      assert.ok(mountsUnder(c.dir).length > 0, 'the task rootfs should be mounted under the dir');
      // With containerd gone, cleanup cannot ask it to delete tasks: the forced path must do it.
      await c.kill();
    } finally {
      await c.cleanup();
    }
    assertNoLeftovers(c, { pids: [pid, shimPid], namespace: ns, id });
  });

  test('a containerd that dies at startup is reported with its log, and its dir removed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cd-'));
    await assert.rejects(startContainerd({ dir, extraConfig: '[grpc\n' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HARNESS_CONTAINERD_EXITED');
      assert.match(err.message, /log tail:\n.*toml/is);
      return true;
    });
    assert.equal(existsSync(dir), false);
    assert.deepEqual(processesMentioning(dir), []);
  });

  test('refuses a dir whose socket path would be too long', async () => {
    const dir = `/tmp/${'x'.repeat(120)}`;
    await assert.rejects(startContainerd({ dir }), { code: 'HARNESS_PATH_TOO_LONG' });
    assert.equal(existsSync(dir), false);
  });
});
