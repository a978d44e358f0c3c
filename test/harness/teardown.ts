// Forcibly removes everything a private containerd left on the host: its shims and their
// container processes, their runc state and shim sockets under /run, its mounts, its dir.
// Synchronous, so it also serves the process 'exit' net.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  descendantsOf,
  listProcesses,
  processesMentioning,
  shimsOf,
  signal,
  unmountAllUnderSync,
  waitGoneSync,
  type ShimInfo,
} from './procfs.js';
import { cgroupParent } from '../../src/containerd/runc.js';

/** containerd 1.6 hard-codes these for every containerd on the machine. */
const RUNC_ROOT = '/run/containerd/runc';
const SHIM_SOCKET_DIR = '/run/containerd/s';
const CGROUP_ROOT = '/sys/fs/cgroup';
/** Where ctr (and containerd's Go client) create task stdio FIFOs by default. */
const FIFO_ROOT = '/run/containerd/fifo';

/** The runc root a task was created with: its runc options' Root, else the default. */
function runcRootOf(state: string, shim: ShimInfo): string {
  try {
    const opts = JSON.parse(
      readFileSync(path.join(state, 'io.containerd.runtime.v2.task', shim.namespace, shim.id, 'options.json'), 'utf8'),
    ) as { root?: string; Root?: string };
    const root = opts.root ?? opts.Root;
    if (root) return root;
  } catch {
    // no options file: the shim used the default
  }
  return RUNC_ROOT;
}

/** Where containerd 1.6 puts a shim's socket: sha256 of address/namespace/id. */
export function shimSocketPath(address: string, namespace: string, id: string): string {
  const hash = createHash('sha256').update(path.join(address, namespace, id)).digest('hex');
  return path.join(SHIM_SOCKET_DIR, hash);
}

/** Dirs under FIFO_ROOT that the processes have files open in. */
function fifoDirsHeldBy(pids: number[]): Set<string> {
  const dirs = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(FIFO_ROOT + '/')) dirs.add(path.join(FIFO_ROOT, target.slice(FIFO_ROOT.length + 1).split('/')[0]));
      } catch {
        // closed meanwhile
      }
    }
  }
  return dirs;
}

/** Namespaces that ever had a task here (containerd keeps a dir per namespace). */
function taskNamespaces(state: string): string[] {
  try {
    return readdirSync(path.join(state, 'io.containerd.runtime.v2.task'));
  } catch {
    return [];
  }
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir); // only when empty: a cgroup or runc dir in use elsewhere stays
  } catch {
    // not there, or still in use
  }
}

/**
 * runc removes a task's own cgroup (/<ns>/<id>, or converge's <parent>/<ns>/<id>) and state
 * dir, but the parents stay behind on the host; remove them when empty.
 */
function removeNamespaceLeftovers(namespaces: Iterable<string>, address: string): void {
  let hierarchies: string[] = [];
  try {
    hierarchies = readdirSync(CGROUP_ROOT).map((h) => path.join(CGROUP_ROOT, h));
  } catch {
    // no cgroupfs
  }
  for (const ns of namespaces) {
    if (ns === '' || ns.includes('/') || ns.startsWith('.')) continue;
    rmdirQuiet(path.join(RUNC_ROOT, ns));
    for (const h of hierarchies) {
      rmdirQuiet(path.join(h, ns));
      rmdirQuiet(path.join(h, cgroupParent(address), ns));
    }
  }
  for (const h of hierarchies) rmdirQuiet(path.join(h, cgroupParent(address)));
}

/**
 * Kills what containerd at `address` left running and removes `dir`. Returns what could not
 * be removed (empty when everything went).
 */
export function forceCleanupSync(address: string, dir: string, state: string): string[] {
  const problems: string[] = [];
  const shims = shimsOf(address);
  const procs = listProcesses();
  const victims = new Set<number>();
  for (const shim of shims) {
    for (const pid of descendantsOf(shim.pid, procs)) victims.add(pid);
    victims.add(shim.pid);
  }
  // Anything else still naming the dir (a runc mid-create, a stray containerd).
  for (const p of processesMentioning(dir)) victims.add(p.pid);
  // ctr's FIFO dirs are removed by whoever deletes the task; with containerd gone nobody
  // will, so note the ones the victims hold open before they die.
  const fifoDirs = fifoDirsHeldBy([...victims]);
  for (const pid of victims) signal(pid, 'SIGKILL');
  const survivors = waitGoneSync([...victims], 5_000);
  if (survivors.length > 0) problems.push(`processes still alive: ${survivors.join(', ')}`);

  for (const shim of shims) {
    // A shim killed before its task was deleted leaves runc state and cgroups behind;
    // runc delete --force removes both. It answers non-zero when there is nothing: fine.
    const root = path.join(runcRootOf(state, shim), shim.namespace);
    spawnSync('runc', ['--root', root, 'delete', '--force', shim.id], { stdio: 'ignore', timeout: 10_000 });
    rmSync(shimSocketPath(address, shim.namespace, shim.id), { force: true });
  }

  for (const d of fifoDirs) rmSync(d, { recursive: true, force: true });
  removeNamespaceLeftovers(new Set([...taskNamespaces(state), ...shims.map((s) => s.namespace)]), address);

  const mounts = unmountAllUnderSync(dir);
  if (mounts.length > 0) problems.push(`mounts: ${mounts.join(', ')}`);
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    problems.push(`dir ${dir}: ${(err as Error).message}`);
  }
  return problems;
}
