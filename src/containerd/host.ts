// Facts of the host that the OCI spec builder needs and that do not change while converge
// runs: the cgroup version, this process's rlimits and capabilities, and (for privileged
// containers only) the host's device nodes. The runtime reads them once and passes them to buildSpec, which
// stays pure.

import { existsSync, lstatSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { posix } from 'node:path';
import { ALL_CAPABILITIES } from '../spec/capabilities.js';

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** 2 on a unified (cgroup v2 only) host; 1 on legacy and hybrid hosts, as runc decides. */
export function detectCgroupVersion(root = '/sys/fs/cgroup'): 1 | 2 {
  try {
    if (statfsSync(root).type === CGROUP2_SUPER_MAGIC) return 2;
  } catch {
    // fall through: no cgroup mount at all reads as v1, where runc will report the real problem
  }
  return existsSync(posix.join(root, 'cgroup.controllers')) ? 2 : 1;
}

const PROC_LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/<pid>/limits; "unlimited" is Infinity. */
export function parseProcLimits(text: string): Record<string, { soft: number; hard: number }> {
  const limits: Record<string, { soft: number; hard: number }> = {};
  const value = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
  for (const line of text.split('\n')) {
    const match = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = match && PROC_LIMIT_NAMES[match[1]];
    if (type) limits[type] = { soft: value(match[2]), hard: value(match[3]) };
  }
  return limits;
}

/**
 * This process's rlimits. The shim and runc inherit containerd's, not ours; ours are the
 * best estimate a client has, and equal them when converge embeds containerd.
 */
export function readHostRlimits(): Record<string, { soft: number; hard: number }> {
  return parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
}

/** One device node as the OCI spec lists it (linux.devices). */
export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** Directories under /dev whose nodes a container gets its own of (or none). */
const SKIPPED_DEVICE_DIRS = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue']);
/** Nodes runc makes itself in every container (the default devices), or that are the host's terminal. */
const SKIPPED_DEVICES = new Set(['/dev/console', '/dev/ptmx', '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);

/**
 * The host's character and block devices under `root`, for a privileged container (as
 * `docker run --privileged` gives it the host's /dev). Symbolic links are not followed.
 */
export function readHostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = posix.join(dir, name);
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue; // gone since the listing
      }
      if (st.isDirectory()) {
        if (depth < 4 && !SKIPPED_DEVICE_DIRS.has(path)) walk(path, depth + 1);
        continue;
      }
      if ((!st.isCharacterDevice() && !st.isBlockDevice()) || SKIPPED_DEVICES.has(path)) continue;
      // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
      const rdev = BigInt(st.rdev);
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
      out.push({ path, type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    }
  };
  walk(root, 0);
  return out;
}

/** The capabilities of a CapBnd line of /proc/<pid>/status ("000001fffeffffff"). */
export function parseCapabilityMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * This process's bounding set: what "every capability" can mean here. A host (a VM, a
 * container) may withhold some even from root, and runc fails a task that asks for one.
 */
export function readHostCapabilities(): string[] {
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? parseCapabilityMask(line[1]) : [...ALL_CAPABILITIES];
}
