// Builds the OCI runtime spec (config.json, runtime-spec 1.0.2) of one container from its
// image config and its converge spec. Pure: the host facts it needs (cgroup version, host
// rlimits, devices) are read once by the caller (host.ts) and passed in.
//
// The defaults are containerd's (oci.populateDefaultUnixSpec) with what its CRI plugin
// changes for Kubernetes: no tmpfs over /run (it would hide the image's /run), a read-only
// cgroup mount at /sys/fs/cgroup, the default device allow-list, a cgroup namespace on
// cgroup v2, and the Kubernetes rules for command/args.
//
// Confinement (DESIGN.md, Trust): every container gets containerd's default seccomp profile
// (seccomp.ts), noNewPrivileges, and nosuid,nodev on the mounts converge adds, except one
// whose spec says `securityContext.privileged: true`, which gets the host's root: every
// capability and device, no filter, /sys and the cgroup tree writable.

import { posix } from 'node:path';
import { ConvergeError } from '../errors.js';
import { DEFAULT_CAPABILITIES, effectiveCapabilities } from '../spec/capabilities.js';
import type { ContainerSpec, ImageConfig, Mount } from '../spec/types.js';
import { parseBytes, parseCpu } from '../spec/quantity.js';
import type { OciDevice } from './host.js';
import { seccompProfile, type SeccompOptions } from './seccomp.js';

// The host probes lived here first; callers and tests still import them from this module.
export { detectCgroupVersion, parseProcLimits, readHostCapabilities, readHostRlimits, type OciDevice } from './host.js';
export { DEFAULT_CAPABILITIES };

export interface OciInput {
  /** containerd container ID. */
  id: string;
  containerdNamespace: string;
  spec: ContainerSpec;
  image: ImageConfig;
  /** Already resolved against the image's /etc/passwd and /etc/group. */
  user: { uid: number; gid: number; additionalGids?: number[] };
  /** The host's limits, keys like 'RLIMIT_NOFILE'; see readHostRlimits. */
  hostRlimits?: Record<string, { soft: number; hard: number }>;
  /** Default `/${containerdNamespace}/${id}`; the runtime makes it unique per containerd (runc.ts). */
  cgroupsPath?: string;
  /** Default 1; see detectCgroupVersion. */
  cgroupVersion?: 1 | 2;
  /** network: bridge: the namespace to join and the name files to mount (the network makes them). */
  network?: { netns: string; hosts: string; resolv: string };
  /** What "every capability" means on this host (privileged, add: [ALL]); see readHostCapabilities. */
  hostCapabilities?: readonly string[];
  /** The host's devices, given to a privileged container; see readHostDevices. */
  hostDevices?: OciDevice[];
  /** Architecture and kernel the seccomp profile is for; default this machine's. */
  seccomp?: SeccompOptions;
  /**
   * Bind mount sources as the policy resolved them (index -> real path), so that what was
   * checked is what is mounted; the spec's own source where absent.
   */
  bindSources?: ReadonlyArray<string | undefined>;
}

export type OciErrorCode = 'NoCommand' | 'InvalidUser' | 'InvalidSignal' | 'InvalidMount' | 'RunAsRoot' | 'NoNetwork';

export class OciSpecError extends ConvergeError {
  declare readonly code: OciErrorCode;
  constructor(code: OciErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export const OCI_VERSION = '1.0.2-dev';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const CPU_PERIOD = 100000;
/** The kernel refuses a CFS quota below 1 ms (EINVAL); Kubernetes raises it to this too. */
const MIN_CPU_QUOTA = 1000;

export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

function defaultMounts(privileged: boolean): OciMount[] {
  // A privileged container may write to /sys and its cgroups, as with docker --privileged.
  const sys = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sys] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sys] },
  ];
}

/** Character devices a container may use (deny-all first): containerd's WithDefaultUnixDevices. */
const ALLOWED_DEVICES: Array<[major: number, minor: number | undefined]> = [
  [1, 3], // null
  [1, 8], // random
  [1, 7], // full
  [5, 0], // tty
  [1, 5], // zero
  [1, 9], // urandom
  [5, 1], // console
  [136, undefined], // pts/*
  [5, 2], // ptmx
];

function deviceRules(privileged: boolean): Array<Record<string, unknown>> {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  return [
    { allow: false, access: 'rwm' },
    ...ALLOWED_DEVICES.map(([major, minor]) =>
      minor === undefined ? { allow: true, type: 'c', major, access: 'rwm' } : { allow: true, type: 'c', major, minor, access: 'rwm' },
    ),
  ];
}

/** Kubernetes rules: command replaces Entrypoint, args replaces Cmd; a command drops the image's Cmd. */
export function resolveArgs(spec: ContainerSpec['spec'], image: ImageConfig): string[] {
  const command = spec.command?.length ? spec.command : undefined;
  const args = spec.args?.length ? spec.args : undefined;
  if (command) return [...command, ...(args ?? [])];
  return [...(image.Entrypoint ?? []), ...(args ?? image.Cmd ?? [])];
}

/** Later entries replace earlier ones of the same name in place; new names append. */
function buildEnv(image: ImageConfig, spec: ContainerSpec['spec'], hostname: string): string[] {
  const env = new Map<string, string>([['PATH', DEFAULT_PATH], ['HOSTNAME', hostname]]);
  for (const entry of image.Env ?? []) {
    const eq = entry.indexOf('=');
    // An entry without "=" is not a variable; runc would refuse the whole spec over it.
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const { name, value } of spec.env ?? []) env.set(name, value ?? '');
  return [...env].map(([name, value]) => `${name}=${value}`);
}

/** nosuid,nodev on what converge mounts from the host: no set-uid binary or device node of the host gets in. */
const CONFINED = ['nosuid', 'nodev'];

function toOciMount(mount: Mount, source: string | undefined, privileged: boolean): OciMount {
  const destination = normalizeTarget(mount.target);
  if (mount.type === 'bind') {
    const options = ['rbind', mount.readOnly ? 'ro' : 'rw', ...(privileged ? [] : CONFINED), 'rprivate'];
    return { destination, type: 'bind', source: source ?? mount.source, options };
  }
  // Like a Kubernetes memory-backed emptyDir: nosuid and nodev, but executables allowed
  // (people put scratch binaries and JIT caches in /tmp).
  const options = ['nosuid', 'nodev', mount.readOnly ? 'ro' : 'rw'];
  if (mount.sizeLimit !== undefined) options.push(`size=${parseBytes(mount.sizeLimit)}`);
  options.push('mode=1777');
  return { destination, type: 'tmpfs', source: 'tmpfs', options };
}

function normalizeTarget(target: string): string {
  if (!target.startsWith('/')) {
    throw new OciSpecError('InvalidMount', `mount target ${JSON.stringify(target)} must be an absolute path`);
  }
  const normal = posix.normalize(target);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/**
 * Defaults, then host files for host networking, then the spec's mounts; a mount on a
 * destination already present replaces it in place (so /dev/shm can be resized).
 */
function buildMounts(spec: ContainerSpec['spec'], privileged: boolean, bindSources: OciInput['bindSources'], network: OciInput['network']): OciMount[] {
  const mounts = defaultMounts(privileged);
  // converge's own name files for the bridge: read-only, since converge rewrites the hosts
  // file in place as peers come and go and would undo a container's edits anyway.
  if (spec.network === 'bridge' && network) {
    for (const [destination, source] of [['/etc/hosts', network.hosts], ['/etc/resolv.conf', network.resolv]]) {
      mounts.push({ destination, type: 'bind', source, options: ['rbind', 'ro', ...CONFINED, 'noexec', 'rprivate'] });
    }
  }
  // With the host's network the host's name servers and hosts file are the right ones,
  // as with `docker run --network host` and `ctr run --net-host`; read-only so that a
  // container cannot change the host's DNS.
  if (spec.network === 'host') {
    for (const file of ['/etc/resolv.conf', '/etc/hosts']) {
      mounts.push({ destination: file, type: 'bind', source: file, options: ['rbind', 'ro', ...CONFINED, 'rprivate'] });
    }
  }
  const seen = new Set<string>();
  for (const [i, mount] of (spec.mounts ?? []).entries()) {
    const oci = toOciMount(mount, bindSources?.[i], privileged);
    if (seen.has(oci.destination)) {
      throw new OciSpecError('InvalidMount', `two mounts have the target ${oci.destination}`);
    }
    seen.add(oci.destination);
    const at = mounts.findIndex((m) => m.destination === oci.destination);
    if (at >= 0) mounts[at] = oci;
    else mounts.push(oci);
  }
  return mounts;
}

function buildRlimits(host: OciInput['hostRlimits']): Array<{ type: string; soft: number; hard: number }> {
  const wanted = { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 };
  const hostHard = host?.[wanted.type]?.hard;
  // runc fails to start a container whose rlimit is above the hard limit it runs under.
  if (hostHard !== undefined && Number.isFinite(hostHard)) {
    wanted.hard = Math.min(wanted.hard, hostHard);
    wanted.soft = Math.min(wanted.soft, wanted.hard);
  }
  return [wanted];
}

function buildResources(spec: ContainerSpec['spec'], privileged: boolean): Record<string, unknown> {
  const resources: Record<string, unknown> = { devices: deviceRules(privileged) };
  const limits = spec.resources?.limits;
  // Only memory.limit: memory+swap would need swap accounting on cgroup v1 hosts, which
  // runc cannot do without (it writes memory.memsw.* and fails where that is missing).
  if (limits?.memory !== undefined) {
    const bytes = parseBytes(limits.memory);
    if (bytes > 0) resources.memory = { limit: bytes };
  }
  if (limits?.cpu !== undefined) {
    const cores = parseCpu(limits.cpu);
    if (cores > 0) {
      resources.cpu = { quota: Math.max(MIN_CPU_QUOTA, Math.round(cores * CPU_PERIOD)), period: CPU_PERIOD };
    }
  }
  if (limits?.pids !== undefined && limits.pids > 0) resources.pids = { limit: limits.pids };
  return resources;
}

function buildNamespaces(spec: ContainerSpec['spec'], cgroupVersion: 1 | 2, netns: string | undefined): Array<{ type: string; path?: string }> {
  const types = ['pid', 'ipc', 'uts', 'mount'];
  // A new network namespace has only loopback (runc brings it up): network "none".
  if (spec.network !== 'host' && spec.network !== 'bridge') types.push('network');
  // On cgroup v2 a private cgroup namespace makes /sys/fs/cgroup show the container's own
  // cgroup as its root, as containerd's CRI and docker do there.
  if (cgroupVersion === 2) types.push('cgroup');
  const namespaces: Array<{ type: string; path?: string }> = types.map((type) => ({ type }));
  // The bridge: the namespace the network made and keeps, joined by path.
  if (spec.network === 'bridge') {
    if (!netns) throw new OciSpecError('NoNetwork', 'network: bridge needs a network namespace, and none was given');
    namespaces.push({ type: 'network', path: netns });
  }
  return namespaces;
}

/** The complete config.json of one container. Throws OciSpecError or QuantityError. */
export function buildSpec(input: OciInput): Record<string, unknown> {
  const { spec: doc, image } = input;
  const spec = doc.spec;
  const args = resolveArgs(spec, image);
  if (args.length === 0) {
    throw new OciSpecError('NoCommand', 'no command to run: the spec has no command or args and the image no Entrypoint or Cmd');
  }
  const security = spec.securityContext;
  if (security?.runAsNonRoot === true && input.user.uid === 0) {
    throw new OciSpecError('RunAsRoot', 'securityContext.runAsNonRoot is set but the container would run as root (uid 0): set spec.user, or use an image whose USER is not root');
  }
  const privileged = security?.privileged === true;
  const hostname = spec.hostname || doc.metadata.name;
  const user: Record<string, unknown> = { uid: input.user.uid, gid: input.user.gid };
  if (input.user.additionalGids?.length) user.additionalGids = [...input.user.additionalGids];
  const capabilities = effectiveCapabilities(security, input.hostCapabilities);
  const caps = () => [...capabilities];
  const linux: Record<string, unknown> = {
    resources: buildResources(spec, privileged),
    cgroupsPath: input.cgroupsPath ?? `/${input.containerdNamespace}/${input.id}`,
    namespaces: buildNamespaces(spec, input.cgroupVersion ?? 1, input.network?.netns),
    maskedPaths: privileged ? [] : [...MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...READONLY_PATHS],
  };
  if (privileged) linux.devices = (input.hostDevices ?? []).map((d) => ({ ...d }));
  else linux.seccomp = seccompProfile(capabilities, input.seccomp);
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user,
      args,
      env: buildEnv(image, spec, hostname),
      cwd: spec.workingDir || image.WorkingDir || '/',
      // Ambient stays empty: a non-root user gets capabilities only through files, as in docker.
      capabilities: { bounding: caps(), effective: caps(), permitted: caps() },
      rlimits: buildRlimits(input.hostRlimits),
      noNewPrivileges: !privileged,
    },
    root: { path: 'rootfs', readonly: security?.readOnlyRootFilesystem === true },
    hostname,
    mounts: buildMounts(spec, privileged, input.bindSources, input.network),
    linux,
  };
}

const MAX_ID = 2147483647; // runc refuses uids and gids above int32

/** "1000", "1000:1000", "app", "app:staff", "1000:staff"; "" -> {}. Names are resolved by the caller. */
export function parseUser(user: string): { uid?: number; gid?: number; userName?: string; groupName?: string } {
  const parts = user.split(':');
  if (parts.length > 2 || parts.some((p, i) => p === '' && (i > 0 || parts.length > 1))) {
    throw new OciSpecError('InvalidUser', `user ${JSON.stringify(user)} must be uid, uid:gid, name or name:group`);
  }
  const result: { uid?: number; gid?: number; userName?: string; groupName?: string } = {};
  const [who, group] = parts;
  const id = (text: string): number | undefined => {
    if (!/^[0-9]+$/.test(text)) return undefined;
    const n = Number(text);
    if (n > MAX_ID) throw new OciSpecError('InvalidUser', `user ${JSON.stringify(user)}: id ${text} is above ${MAX_ID}`);
    return n;
  };
  if (who !== '') {
    const uid = id(who);
    if (uid === undefined) result.userName = who;
    else result.uid = uid;
  }
  if (group !== undefined) {
    const gid = id(group);
    if (gid === undefined) result.groupName = group;
    else result.gid = gid;
  }
  return result;
}

/** Linux signal numbers (x86, arm and most others; the ones that differ on mips/sparc/alpha are out of scope). */
const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10,
  SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18,
  STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27,
  WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31, RTMIN: 34, RTMAX: 64,
};

/** 'SIGTERM' | 'TERM' | 'sigterm' | '15' -> 15; also 'SIGRTMIN+3', 'RTMAX-1'. Throws InvalidSignal. */
export function signalNumber(name: string): number {
  const text = name.trim().toUpperCase();
  let n: number | undefined;
  if (/^[0-9]+$/.test(text)) {
    n = Number(text);
  } else {
    const match = /^(?:SIG)?([A-Z0-9]+?)(?:([+-])([0-9]+))?$/.exec(text);
    if (match) {
      const [, base, sign, offset] = match;
      n = SIGNALS[base];
      if (n !== undefined && sign) {
        n = (base === 'RTMIN' && sign === '+') || (base === 'RTMAX' && sign === '-') ? n + Number(sign + offset) : undefined;
      }
    }
  }
  if (n === undefined || n < 1 || n > 64) {
    throw new OciSpecError('InvalidSignal', `signal ${JSON.stringify(name)} must be a signal name like SIGTERM or a number 1-64`);
  }
  return n;
}
