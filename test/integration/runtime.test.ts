// The containerd Runtime against a real containerd (private root, state and socket) and the
// busybox test image: create, start, logs, events, stop with grace, remove, conflicts,
// user names, and what a down or hung containerd does to callers.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ContainerdClient } from '../../src/containerd/client.js';
import { ContainersService } from '../../src/containerd/containers.js';
import { ContentService } from '../../src/containerd/content.js';
import { AlreadyExistsError, ContainerdError, DeadlineExceededError, NotFoundError, fromGrpc, isNotFound } from '../../src/containerd/errors.js';
import { toRuntimeEvent } from '../../src/containerd/events.js';
import { ImageResolver, chainIdOf } from '../../src/containerd/image.js';
import { hostPlatform, normalizePlatform, selectManifest } from '../../src/pull/platform.js';
import { ImagesService } from '../../src/containerd/images.js';
import { SnapshotsService } from '../../src/containerd/snapshots.js';
import { TasksService } from '../../src/containerd/tasks.js';
import { type ContainerdRuntime, createContainerdRuntime } from '../../src/containerd/runtime.js';
import { mountArgs, needsUserFiles, resolveUser } from '../../src/containerd/user.js';
import type { ContainerSpecBody } from '../../src/spec/types.js';
import type { RuntimeEvent } from '../../src/reconcile/runtime.js';
import { LABEL_MANAGED, LABEL_RESTARTS, idOf } from '../../src/containerd/labels.js';
import { type PrivateContainerd, startContainerd, uniqueNamespace } from '../harness/containerd.js';
import { importBusybox } from '../harness/image.js';
import { desired as desiredOf, sh } from '../harness/specs.js';
import { waitFor } from '../harness/wait.js';
import { logText } from '../harness/logs.js';

const WAIT_MS = 20_000;

/** A desired container of the imported test image; each name its own hash. */
const desired = (name: string, body: Partial<ContainerSpecBody>, hash = `hash-${name}`) =>
  desiredOf(name, { image, ...body }, hash, 'dir:/test/specs.yaml', { namespace: 'default', labels: { tier: 'test' } });

/** Collects a runtime's events from the moment it is made. */
class EventLog {
  readonly events: RuntimeEvent[] = [];
  private readonly ac = new AbortController();
  private readonly done: Promise<void>;

  constructor(runtime: ContainerdRuntime) {
    this.done = (async () => {
      for await (const e of runtime.events(this.ac.signal)) this.events.push(e);
    })();
  }

  /** The first event at index >= `since` that matches. */
  async waitFor(pred: (e: RuntimeEvent) => boolean, since = 0, timeoutMs = WAIT_MS): Promise<RuntimeEvent> {
    return waitFor(() => this.events.slice(since).find(pred), { what: 'an event', timeoutMs });
  }

  count(type: RuntimeEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}

let cd: PrivateContainerd;
let namespace: string;
let image: string;
let stateDir: string;
let runtime: ContainerdRuntime;
let client: ContainerdClient;
let events: EventLog;
const logLines: Array<Record<string, unknown>> = [];

function newRuntime(timeoutMs?: number): ContainerdRuntime {
  const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  return createContainerdRuntime({ address: cd.address, namespace, stateDir, log, timeoutMs });
}

async function snapshotKeys(): Promise<string[]> {
  return (await new SnapshotsService(client).list('overlayfs')).map((s) => s.name);
}

async function uidGidOf(pid: number): Promise<{ uid: string; gid: string }> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => (new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status) ?? [])[1] ?? '';
  return { uid: field('Uid'), gid: field('Gid') };
}

before(async () => {
  cd = await startContainerd();
  namespace = uniqueNamespace('rt');
  image = await importBusybox(cd.address, namespace);
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'converge-rt-'));
  runtime = newRuntime();
  client = new ContainerdClient({ address: cd.address, namespace });
  events = new EventLog(runtime);
  await events.waitFor((e) => e.type === 'connected');
});

after(async () => {
  await events?.stop();
  runtime?.close();
  client?.close();
  await cd?.cleanup();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('containerd runtime', () => {
  it('reports the daemon version', async () => {
    const v = await runtime.version();
    assert.match(v.version, /^v?\d+\.\d+/);
    await runtime.ensureNamespace(); // exists already (the image import made it): fine
    assert.equal(await runtime.hasImage(image), true);
    assert.equal(await runtime.hasImage('localhost/none:latest'), false);
  });

  it('creates and starts a container that list and get show running, with its labels', async () => {
    const d = desired('sleeper', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 2 });
    const created = await runtime.get(key);
    assert.equal(created?.task, undefined);
    const { pid } = await runtime.start(key);
    assert.ok(pid > 0);
    assert.deepEqual(await runtime.start(key), { pid }, 'start of a running task is a no-op');
    const listed = (await runtime.list()).find((c) => c.id === id);
    assert.ok(listed);
    assert.equal(listed.key, 'default/sleeper');
    assert.equal(listed.specHash, 'hash-sleeper');
    assert.equal(listed.restarts, 2);
    assert.deepEqual(listed.task, { pid, status: 'running' });
    assert.equal(listed.labels[LABEL_MANAGED], 'true');
    assert.equal(listed.labels['converge.dev/source'], 'dir:/test/specs.yaml');
    assert.equal(listed.labels['converge.dev/key'], 'default/sleeper');
    assert.equal(listed.labels.tier, 'test');
    assert.ok(listed.createdAt instanceof Date);
    assert.deepEqual(await runtime.get(key), listed);
    await runtime.setRestarts(key, 3);
    const updated = await runtime.get(key);
    assert.equal(updated?.restarts, 3);
    assert.equal(updated?.labels[LABEL_RESTARTS], '3');
    assert.equal(updated?.labels.tier, 'test', 'other labels are kept');
    await runtime.remove(key, 'SIGKILL', 0);
  });

  it('writes stdout and stderr to the log file, appending across starts', async () => {
    const d = desired('echo', sh('echo out-line; echo err-line >&2'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    const since = events.events.length;
    const { pid } = await runtime.start(key);
    const exit = await events.waitFor((e) => e.type === 'exit' && e.key === key, since);
    assert.deepEqual({ ...exit, exitedAt: undefined }, { type: 'exit', key, pid, exitStatus: 0, exitedAt: undefined });
    const stopped = await runtime.get(key);
    assert.equal(stopped?.task?.status, 'stopped');
    assert.equal(stopped?.task?.exitStatus, 0);
    // The shim copies the task's output into the file on its own; the exit event can come
    // before the last write lands, so wait for the content rather than read it once.
    const both = /out-line\n[^]*err-line\n|err-line\n[^]*out-line\n/;
    await waitFor(() => both.test(logText(runtime.logPath(id))), { what: 'both lines in the log', timeoutMs: WAIT_MS });
    // start() deletes the stopped task first and makes a new one.
    const again = events.events.length;
    await runtime.start(key);
    await events.waitFor((e) => e.type === 'exit' && e.key === key, again);
    await waitFor(() => logText(runtime.logPath(id)).match(/out-line/g)?.length === 2, { what: 'the second start appended', timeoutMs: WAIT_MS });
    assert.match(logText(runtime.logPath(id)), /^(out|err)-line\n(out|err)-line\n[^]*out-line\n/, 'appended after the first run, not over it');
    assert.deepEqual(await runtime.deleteTask(key), { exitStatus: 0 });
    assert.equal(await runtime.deleteTask(key), undefined, 'a task already gone is fine');
    await runtime.remove(key, 'SIGTERM', 1000);
  });

  it('sees the exit of a task killed with SIGKILL from outside (137)', async () => {
    const d = desired('victim', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    const since = events.events.length;
    const { pid } = await runtime.start(key);
    await events.waitFor((e) => e.type === 'start' && e.key === key, since);
    process.kill(pid, 'SIGKILL');
    const exit = await events.waitFor((e) => e.type === 'exit' && e.key === key, since);
    assert.equal(exit.type === 'exit' && exit.exitStatus, 137);
    assert.ok(exit.type === 'exit' && exit.exitedAt instanceof Date);
    const task = (await runtime.get(key))?.task;
    assert.equal(task?.status, 'stopped');
    assert.equal(task?.exitStatus, 137);
    assert.deepEqual(await runtime.deleteTask(key), { exitStatus: 137 });
    await runtime.remove(key, 'SIGTERM', 1000);
  });

  /** Starts a task that sets `trap` and then loops; resolves once the trap is set. */
  async function startTrapping(name: string, trap: string): Promise<{ id: string; key: string; since: number }> {
    const d = desired(name, sh(`${trap}; echo ready; while :; do sleep 0.1; done`));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    const since = events.events.length;
    await runtime.start(key);
    await waitFor(() => logText(runtime.logPath(id)).includes('ready'), { what: 'the trap to be set', timeoutMs: WAIT_MS });
    return { id, key, since };
  }

  it('stop sends the signal, waits the grace period, then kills', async () => {
    const { id, key, since } = await startTrapping('stubborn', "trap 'echo got-term' TERM");
    const started = Date.now();
    await runtime.stop(key, 'SIGTERM', 1500);
    const took = Date.now() - started;
    assert.ok(took >= 1500, `stop returned after ${took} ms, before the grace period`);
    assert.match(logText(runtime.logPath(id)), /got-term/);
    // containerd 2.x may drop the exit event of a task deleted right after it exits (see the
    // test below); 1.6 always sends it, and it must say SIGKILL.
    if (!process.env.CONVERGE_TEST_CONTAINERD) {
      const exit = await events.waitFor((e) => e.type === 'exit' && e.key === key, since);
      assert.equal(exit.type === 'exit' && exit.exitStatus, 137);
    }
    const after = await runtime.get(key);
    assert.ok(after, 'stop keeps the container');
    assert.equal(after.task, undefined, 'stop deletes the task');
    await runtime.stop(key, 'SIGTERM', 1500); // no task: nothing to do
    await runtime.remove(key, 'SIGTERM', 1000);
  });

  // The trap's output, not the exit event, shows the task ended on the signal: containerd
  // 2.x may drop the /tasks/exit (and /tasks/delete) of a task deleted right after it exits,
  // as stop does, when its shim shuts down with those events still unsent.
  it('stop returns as soon as the task exits on the signal', async () => {
    const { id, key } = await startTrapping('polite', "trap 'echo got-term; exit 0' TERM");
    const started = Date.now();
    await runtime.stop(key, 'SIGTERM', 20_000);
    assert.ok(Date.now() - started < 10_000);
    assert.match(logText(runtime.logPath(id)), /got-term/);
    const after = await runtime.get(key);
    assert.ok(after, 'stop keeps the container');
    assert.equal(after.task, undefined, 'stop deletes the task');
    await runtime.remove(key, 'SIGTERM', 1000);
  });

  it('remove leaves no container, task or snapshot, and may be repeated', async () => {
    const d = desired('doomed', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    await runtime.start(key);
    assert.ok((await snapshotKeys()).includes(id));
    await runtime.remove(key, 'SIGTERM', 500);
    assert.equal(await runtime.get(key), undefined);
    assert.ok(!(await new ContainersService(client).list()).some((c) => c.id === id));
    assert.ok(!(await new TasksService(client).list()).some((t) => t.id === id));
    assert.ok(!(await snapshotKeys()).includes(id));
    await assert.rejects(new SnapshotsService(client).stat('overlayfs', id), NotFoundError);
    await runtime.remove(key, 'SIGTERM', 500);
    // A container that never ran goes the same way, and so does one whose task was
    // created but never started (a crash between the two calls).
    await runtime.create(d, { restarts: 0 });
    await runtime.remove(key, 'SIGTERM', 500);
    assert.equal(await runtime.get(key), undefined);
    assert.ok(!(await snapshotKeys()).includes(id));
    await runtime.create(d, { restarts: 0 });
    const rootfs = await new SnapshotsService(client).mounts('overlayfs', id);
    await new TasksService(client).create({ containerId: id, rootfs, stdout: '', stderr: '' });
    assert.equal((await runtime.get(key))?.task?.status, 'created');
    await runtime.remove(key, 'SIGTERM', 500);
    assert.equal(await runtime.get(key), undefined);
    assert.ok(!(await new TasksService(client).list()).some((t) => t.id === id));
    assert.ok(!(await snapshotKeys()).includes(id));
  });

  it('create of a taken ID or snapshot answers AlreadyExists and cleans nothing', async () => {
    const d = desired('twice', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    await assert.rejects(runtime.create(desired('twice', sh('sleep 1'), 'other-hash'), { restarts: 0 }), (err) => {
      assert.ok(err instanceof AlreadyExistsError);
      assert.equal(err.code, 'AlreadyExists');
      return true;
    });
    assert.equal((await runtime.get(key))?.specHash, 'hash-twice', 'the first container is untouched');
    assert.ok((await snapshotKeys()).includes(id), 'its snapshot too');
    await runtime.remove(key, 'SIGTERM', 500);
    // A stale snapshot without a container conflicts too (a gc.root label keeps containerd's
    // collector off it, as a lease does for one that converge was making when it crashed).
    const info = await new ImageResolver(new ImagesService(client), new ContentService(client)).resolve(image);
    await new SnapshotsService(client).prepare('overlayfs', id, info.chainId, { 'containerd.io/gc.root': 'test' });
    await assert.rejects(runtime.create(d, { restarts: 0 }), AlreadyExistsError);
    await runtime.remove(key, 'SIGTERM', 500);
    await runtime.create(d, { restarts: 0 });
    await runtime.remove(key, 'SIGTERM', 500);
  });

  it('get of a missing ID is undefined; a hand-made container is listed', async () => {
    assert.equal(await runtime.get('default/missing'), undefined);
    await new ContainersService(client).create({
      id: 'handmade',
      labels: {},
      image,
      runtime: 'io.containerd.runc.v2',
      snapshotter: 'overlayfs',
      snapshotKey: 'handmade',
      spec: {},
    });
    const found = (await runtime.list()).find((c) => c.id === 'handmade');
    assert.deepEqual({ key: found?.key, specHash: found?.specHash, restarts: found?.restarts }, { key: 'handmade', specHash: '', restarts: 0 });
    await runtime.remove('handmade', 'SIGTERM', 500);
    assert.equal(await runtime.get('handmade'), undefined);
  });

  it('resolves user names from the image', async () => {
    const cases: Array<[user: string, uid: string, gid: string]> = [
      ['nobody', '65534', '65534'],
      ['1000', '1000', '1000'], // gid from the passwd entry of uid 1000
      ['app:nogroup', '1000', '65534'],
      ['4242:4343', '4242', '4343'],
    ];
    for (const [user, uid, gid] of cases) {
      const d = desired('user', { ...sh('sleep 3600'), user });
      const id = idOf(d.key);
    const key = d.key;
      await runtime.create(d, { restarts: 0 });
      const { pid } = await runtime.start(key);
      assert.deepEqual(await uidGidOf(pid), { uid, gid }, `user ${user}`);
      await runtime.remove(key, 'SIGKILL', 0);
    }
    const ghost = desired('ghost', { ...sh('sleep 3600'), user: 'ghost' });
    await assert.rejects(runtime.create(ghost, { restarts: 0 }), (err) => err instanceof ContainerdError && err.code === 'InvalidArgument');
    assert.equal(await runtime.get(ghost.key), undefined, 'nothing is made for a bad user');
    assert.ok(!(await snapshotKeys()).some((k) => k === idOf(ghost.key) || k.startsWith('converge-view-')));
  });

  it('a hung containerd fails calls at their deadline, never as NotFound', async () => {
    const d = desired('hang', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    const impatient = newRuntime(300);
    process.kill(cd.pid, 'SIGSTOP');
    try {
      await assert.rejects(impatient.get(id), DeadlineExceededError);
      await assert.rejects(impatient.get('default.missing'), DeadlineExceededError);
      await assert.rejects(impatient.list(), (err) => err instanceof ContainerdError && err.code === 'DeadlineExceeded');
      await assert.rejects(impatient.remove(id, 'SIGTERM', 100), DeadlineExceededError);
    } finally {
      process.kill(cd.pid, 'SIGCONT');
      impatient.close();
    }
    assert.ok(await runtime.get(key), 'nothing was removed');
    await runtime.remove(key, 'SIGTERM', 500);
  });

  it('the event stream reconnects after a containerd restart and says so', async () => {
    const d = desired('survivor', sh('sleep 3600'));
    const id = idOf(d.key);
    const key = d.key;
    await runtime.create(d, { restarts: 0 });
    const { pid } = await runtime.start(key);
    const connectedBefore = events.count('connected');
    const since = events.events.length;
    await cd.stop();
    await assert.rejects(runtime.list(), (err) => err instanceof ContainerdError && err.code === 'Unavailable');
    await cd.start();
    await events.waitFor((e) => e.type === 'connected', since);
    assert.equal(events.count('connected'), connectedBefore + 1);
    // The task ran on through the restart, and the stream carries events again: of a task
    // started after it, and of the one that lived through it.
    assert.deepEqual((await runtime.get(key))?.task, { pid, status: 'running' });
    const late = desired('late', sh('sleep 3600'));
    await runtime.create(late, { restarts: 0 });
    const after = events.events.length;
    const { pid: latePid } = await runtime.start(late.key);
    // Killed, and deleted only once its exit is seen: a 2.x shim whose task is deleted at once
    // can exit with both its exit and its delete event unsent (its main returns when shutdown
    // is done, while its forwarder is still sending), which no subscriber can make up for (the
    // controller then learns the exit from a read; controller.test.ts).
    await runtime.kill!(late.key, 'SIGKILL', 0);
    await events.waitFor((e) => e.type === 'start' && e.key === late.key, after);
    const lateExit = await events.waitFor((e) => e.type === 'exit' && e.key === late.key, after);
    assert.deepEqual(lateExit, { type: 'exit', key: late.key, pid: latePid, exitStatus: 137, exitedAt: (lateExit as { exitedAt?: Date }).exitedAt });
    await runtime.remove(late.key, 'SIGKILL', 0);
    // The survivor's shim forwards its events on a connection it finds closed first; a 2.x
    // shim retries a failed forward 1, 2, ... 5 s apart, each try bounded by 5 s: up to about
    // 45 s, as long as the shim lives: the task is kept (not deleted) until its exit is seen.
    // (Deleted at once, neither its exit nor its delete reached containerd 2 in runs of 1 in 8.)
    await runtime.kill!(key, 'SIGKILL', 0);
    await events.waitFor((e) => e.type === 'exit' && e.key === key, after, 60_000);
    await runtime.remove(key, 'SIGKILL', 0);
    assert.equal(events.events.slice(after).filter((e) => e.type === 'exit').length, 2, 'one exit per task');
    assert.ok(logLines.some((l) => l.msg === 'event stream failed; reconnecting' && l.level === 40));
  });
});

describe('containerd layer helpers (no daemon needed)', () => {
  it('computes chain IDs as containerd does', () => {
    assert.equal(chainIdOf(['sha256:aaaa']), 'sha256:aaaa');
    assert.equal(
      chainIdOf(['sha256:aaaa', 'sha256:bbbb', 'sha256:cccc']),
      'sha256:10f847b3ece58353f298bec20c58125235b631360ad43ac162131980750211ff',
    );
    assert.throws(() => chainIdOf([]), (err) => err instanceof ContainerdError && err.code === 'InvalidArgument');
  });

  it('chooses the manifest for the host platform, with containerd fallbacks', () => {
    const entries = [
      { digest: 'att', platform: { os: 'unknown', architecture: 'unknown' } },
      { digest: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { digest: 'armv6', platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { digest: 'amd64', platform: { os: 'linux', architecture: 'amd64' } },
    ];
    assert.equal(selectManifest(entries, { os: 'linux', architecture: 'amd64' })?.digest, 'amd64');
    assert.equal(selectManifest(entries, normalizePlatform({ os: 'linux', architecture: 'aarch64' }))?.digest, 'arm64');
    assert.equal(selectManifest(entries, normalizePlatform({ os: 'linux', architecture: 'arm', variant: '7' }))?.digest, 'armv6');
    assert.equal(selectManifest(entries, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(selectManifest([{ digest: 'bare' }], { os: 'linux', architecture: 's390x' })?.digest, 'bare');
    assert.deepEqual(hostPlatform().os, 'linux');
  });

  it('resolves users from passwd and group text', () => {
    const files = {
      passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n',
      group: 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:root\n',
    };
    assert.deepEqual(resolveUser('', files), { uid: 0, gid: 0 });
    assert.deepEqual(resolveUser('app', files), { uid: 1000, gid: 1000, additionalGids: [50] });
    assert.deepEqual(resolveUser('app:staff', files), { uid: 1000, gid: 50 });
    assert.deepEqual(resolveUser('1000', files), { uid: 1000, gid: 1000, additionalGids: [50] });
    assert.deepEqual(resolveUser('2000', files), { uid: 2000, gid: 0 });
    assert.deepEqual(resolveUser('2000:7', {}), { uid: 2000, gid: 7 });
    assert.equal(needsUserFiles('2000:7'), false);
    assert.equal(needsUserFiles(''), false);
    assert.equal(needsUserFiles('app'), true);
    assert.throws(() => resolveUser('ghost', files), (err) => err instanceof ContainerdError && err.code === 'InvalidArgument');
    assert.throws(() => resolveUser('app:ghosts', files), (err) => err instanceof ContainerdError && err.code === 'InvalidArgument');
  });

  it('mounts snapshot views read-only', () => {
    assert.deepEqual(mountArgs({ type: 'bind', source: '/s', options: ['rbind'] }, '/t'), ['-o', 'rbind,ro', '/s', '/t']);
    assert.deepEqual(mountArgs({ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] }, '/t'), [
      '-t', 'overlay', '-o', 'lowerdir=/a:/b,ro', 'overlay', '/t',
    ]);
  });

  it('maps gRPC failures to typed errors, a deadline never to NotFound', () => {
    const notFound = fromGrpc({ code: 5, details: 'container "x": not found' }, 'containers.Get');
    assert.ok(notFound instanceof NotFoundError);
    assert.equal(notFound.message, 'containers.Get: container "x": not found');
    assert.equal(isNotFound(notFound), true);
    const deadline = fromGrpc({ code: 4, details: 'Deadline exceeded' }, 'tasks.Get');
    assert.ok(deadline instanceof DeadlineExceededError);
    assert.equal(isNotFound(deadline), false);
    // How containerd reports a deadline that ran out in a shim call.
    assert.ok(fromGrpc({ code: 2, details: 'context deadline exceeded: unknown' }, 'tasks.Wait') instanceof DeadlineExceededError);
    assert.ok(fromGrpc({ code: 6 }, 'x') instanceof AlreadyExistsError);
    assert.equal(fromGrpc({ code: 14 }, 'x').code, 'Unavailable');
    assert.equal(fromGrpc({ code: 9 }, 'x').code, 'FailedPrecondition');
    assert.equal(fromGrpc(new Error('boom'), 'x').code, 'Unknown');
    assert.equal((fromGrpc({ code: 5 }, 'x').cause as { code: number }).code, 5, 'the cause is kept');
  });

  it('turns task envelopes into runtime events and ignores exec processes', () => {
    const env = (type: string, value: object) => ({ namespace: 'n', topic: '/tasks/x', typeUrl: type, event: { type, value } });
    assert.deepEqual(
      toRuntimeEvent(env('containerd.events.TaskExit', { container_id: 'a.b', id: 'a.b', pid: 7, exit_status: 137, exited_at: { seconds: 1, nanos: 0 } })),
      { type: 'exit', key: 'a/b', pid: 7, exitStatus: 137, exitedAt: new Date(1000) },
    );
    assert.equal(toRuntimeEvent(env('containerd.events.TaskExit', { container_id: 'a.b', id: 'exec1', pid: 8, exit_status: 0 })), undefined);
    assert.deepEqual(toRuntimeEvent(env('containerd.events.TaskOOM', { container_id: 'a.b' })), { type: 'oom', key: 'a/b' });
    assert.deepEqual(toRuntimeEvent(env('containerd.events.TaskStart', { container_id: 'a.b', pid: 9 })), { type: 'start', key: 'a/b', pid: 9 });
    assert.deepEqual(toRuntimeEvent(env('containerd.events.TaskDelete', { container_id: 'a.b', id: '' })), { type: 'delete', key: 'a/b' });
    assert.equal(toRuntimeEvent(env('containerd.events.ContainerCreate', { container_id: 'a.b' })), undefined);
  });
});
