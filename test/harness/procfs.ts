// Reads processes and mounts from /proc, synchronously, so that the same code serves a
// normal cleanup and the process 'exit' safety net (where nothing async can run).

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Zombies have no args. */
  args: string[];
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The comm field may hold spaces and parentheses; the fields after its last ')' do not.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw === '' ? [] : raw.replace(/\0$/, '').split('\0');
    return { pid, ppid, args };
  } catch {
    return undefined; // it exited while we looked
  }
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

export function isAlive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && p.args.length > 0; // a zombie is as good as gone
}

/** Processes (other than this one) with `text` somewhere in their arguments. */
export function processesMentioning(text: string): ProcInfo[] {
  return listProcesses().filter((p) => p.pid !== process.pid && p.args.some((a) => a.includes(text)));
}

/** All descendants of `pid`, children before grandchildren. */
export function descendantsOf(pid: number, procs: ProcInfo[] = listProcesses()): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of procs) {
      if (p.ppid === parent && !out.includes(p.pid)) {
        out.push(p.pid);
        queue.push(p.pid);
      }
    }
  }
  return out;
}

export interface ShimInfo {
  pid: number;
  namespace: string;
  id: string;
}

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The runc v2 shims serving the containerd at `address` (found by their -address arg). */
export function shimsOf(address: string): ShimInfo[] {
  const out: ShimInfo[] = [];
  for (const p of listProcesses()) {
    if (p.args.length === 0 || !path.basename(p.args[0]).startsWith('containerd-shim')) continue;
    if (argAfter(p.args, '-address') !== address) continue;
    out.push({ pid: p.pid, namespace: argAfter(p.args, '-namespace') ?? '', id: argAfter(p.args, '-id') ?? '' });
  }
  return out;
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const base = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = unescapeMountPath(fields[4]);
    if (mp === base || mp.startsWith(base + '/')) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything below `dir`; returns what is still mounted afterwards. */
export function unmountAllUnderSync(dir: string): string[] {
  // A mount point may be stacked (mounted more than once), so go round until none is left.
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const mp of mounts) spawnSync('umount', ['-l', mp], { stdio: 'ignore', timeout: 10_000 });
  }
  return mountsUnder(dir);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Waits (blocking) until none of `pids` is alive; returns those still alive at the deadline. */
export function waitGoneSync(pids: number[], timeoutMs: number): number[] {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    sleepSync(10);
    alive = alive.filter(isAlive);
  }
  return alive;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
