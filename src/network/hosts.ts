// The name files of a bridge container: its /etc/hosts, which names every peer of its
// metadata.namespace as `name` and `name.namespace` (pure, so the rules are tested
// without a network), and its /etc/resolv.conf, the host's minus what cannot work from
// inside a container. Both are bind-mounted, so rewriting them goes into the same file.

import { open } from 'node:fs/promises';
import { codeOf } from '../errors.js';

/** A container on the bridge, as /etc/hosts names it. */
export interface Peer {
  namespace: string;
  name: string;
  ip: string;
  /** Extra names the container has for itself (its hostname); shown on its own line only. */
  hostnames?: string[];
}

/**
 * The /etc/hosts of `self`: localhost, its own line, then every other peer of its
 * namespace by name and name.namespace, ordered by name so the file is the same however
 * the peers arrived. Peers of other namespaces are left out: a namespace is a boundary.
 */
export function hostsFile(self: Peer, peers: readonly Peer[]): string {
  const lines = [
    `# Written by converge: the containers of namespace ${self.namespace} on the bridge, kept current as they come, go and change address.`,
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
  ];
  const own = [...new Set([...(self.hostnames ?? []), self.name, `${self.name}.${self.namespace}`])];
  lines.push(`${self.ip}\t${own.join(' ')}`);
  const others = peers
    .filter((p) => p.namespace === self.namespace && p.name !== self.name)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const p of others) lines.push(`${p.ip}\t${p.name} ${p.name}.${p.namespace}`);
  return lines.join('\n') + '\n';
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

function nameservers(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
}

/**
 * The container's resolv.conf from the host's: search and options as they are, name
 * servers on loopback dropped (a local stub such as systemd-resolved's 127.0.0.53 is not
 * reachable from the container's own namespace). When that leaves none, the stub's
 * upstream servers (`upstream`, systemd-resolved's /run/systemd/resolve/resolv.conf) are
 * used; with none either, the container has no name server rather than one it cannot reach.
 */
export function resolvConf(host: string, upstream?: string): string {
  const kept = host.split('\n').filter((l) => {
    const ns = /^\s*nameserver\s+(\S+)/.exec(l)?.[1];
    return ns === undefined ? l.trim() !== '' : !LOOPBACK.test(ns);
  });
  if (nameservers(kept.join('\n')).length === 0 && upstream) {
    for (const ns of nameservers(upstream)) if (!LOOPBACK.test(ns)) kept.push(`nameserver ${ns}`);
  }
  return ['# Written by converge from the host\'s resolv.conf.', ...kept.filter((l) => !/^#/.test(l.trim()))].join('\n') + '\n';
}

/**
 * Replaces the file's content keeping its inode: a bind mount pins the inode, so a
 * write-aside-and-rename would never reach the container. New bytes first, then the
 * length, so a reader never meets an empty file.
 */
export async function writeInPlace(file: string, content: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r+');
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw err;
    handle = await open(file, 'w', 0o644);
  }
  try {
    const bytes = Buffer.from(content);
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
  } finally {
    await handle.close();
  }
}
