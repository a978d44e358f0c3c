// Linux capabilities as a spec names them, and the set a container ends up with. Both the
// OCI spec builder (what the process gets) and the policy (what a source may ask for) read
// them from here, so the two can never disagree on what "add: [X], drop: [ALL]" means.

import type { SecurityContext } from './types.js';

/** Every capability of Linux 5.9 and later, in the kernel's order (CAP_CHOWN is 0). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** containerd's default set (oci.populateDefaultUnixSpec), the one docker and Kubernetes use too. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const KNOWN = new Set<string>(ALL_CAPABILITIES);

/** "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "ALL" stays "ALL". */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/** Whether a name (in any of the accepted spellings) is a capability, or ALL. */
export function isCapability(name: string): boolean {
  const n = normalizeCapability(name);
  return n === 'ALL' || KNOWN.has(n);
}

/**
 * The capabilities of a container: containerd's default set, minus `drop` (ALL drops every
 * one), plus `add` (ALL adds every one the host has). `privileged: true` has every one the
 * host has. Names the spec lists in both add and drop are refused by validation, so the
 * order does not matter.
 */
export function effectiveCapabilities(ctx: SecurityContext | undefined, host: readonly string[] = ALL_CAPABILITIES): string[] {
  if (ctx?.privileged === true) return [...host];
  const add = (ctx?.capabilities?.add ?? []).map(normalizeCapability);
  const drop = new Set((ctx?.capabilities?.drop ?? []).map(normalizeCapability));
  const out = drop.has('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.has(c));
  const wanted = add.includes('ALL') ? [...host] : add;
  for (const cap of wanted) if (!out.includes(cap)) out.push(cap);
  return out;
}

/** The capabilities a spec adds beyond the default set (what a policy has to allow). */
export function addedCapabilities(ctx: SecurityContext | undefined): string[] {
  const add = (ctx?.capabilities?.add ?? []).map(normalizeCapability);
  return add.includes('ALL') ? ['ALL'] : [...new Set(add)];
}
