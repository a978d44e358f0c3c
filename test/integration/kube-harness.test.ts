// The control plane harness's own net (test/harness/kube-cluster.ts): a test process killed
// outright cannot stop its etcd and kube-apiserver, so the next start sweeps them, and
// only them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sweepLeftovers } from '../harness/kube-cluster.js';
import { ETCD, requireKubeTools } from '../harness/kube-tools.js';
import { freePort } from '../harness/net.js';
import { isAlive } from '../harness/procfs.js';
import { waitFor } from '../harness/wait.js';

const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));

describe('kube-cluster harness', () => {
  it("kills a dead test process's etcd and removes its dir; leaves a live one's, and a pid that is not ours", async () => {
    requireKubeTools();
    const procs = mkdtempSync(path.join(os.tmpdir(), 'kube-procs-'));
    const dead = spawn('true');
    await exited(dead);
    assert.ok(!isAlive(dead.pid!));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-left-'));
    const [client, peer] = [await freePort(), await freePort()];
    const etcd = spawn(ETCD, [`--data-dir=${path.join(dir, 'etcd')}`, `--listen-client-urls=http://127.0.0.1:${client}`, `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`, `--initial-cluster=default=http://127.0.0.1:${peer}`, '--log-level=error'], { stdio: 'ignore' });
    const other = spawn('sleep', ['60']);
    const liveDir = path.join(procs, 'live');
    mkdirSync(liveDir);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${client}/health`)).ok, { what: 'etcd up', timeoutMs: 30_000 });
      writeFileSync(path.join(procs, 'dead.json'), JSON.stringify({ owner: dead.pid, pids: [etcd.pid, other.pid], dir }));
      writeFileSync(path.join(procs, 'live.json'), JSON.stringify({ owner: process.pid, pids: [etcd.pid], dir: liveDir }));
      sweepLeftovers(procs);
      await exited(etcd);
      assert.equal(etcd.signalCode, 'SIGKILL');
      assert.equal(existsSync(dir), false, 'its dir removed');
      assert.equal(existsSync(path.join(procs, 'dead.json')), false, 'its record removed');
      assert.ok(isAlive(other.pid!), 'a process that is not our etcd or kube-apiserver is left alone');
      assert.ok(existsSync(liveDir) && existsSync(path.join(procs, 'live.json')), 'a live test process keeps its cluster');
    } finally {
      etcd.kill('SIGKILL');
      other.kill('SIGKILL');
      rmSync(procs, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
