// Published ports: the shape a port takes once its defaults are filled in, and the one rule
// of when two of them want the same host socket. The schema check (one spec publishing a
// host port twice) and the network's conflict check (two containers) both use it.

import { fieldPath } from './yaml.js';
import { quote } from './quote.js';
import type { PortSpec, Protocol } from './types.js';

/** A dotted-quad IPv4 address; the schema's hostIP pattern (a test keeps them equal). */
export const IPV4_PATTERN = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';

/** A port with its defaults filled in. */
export interface PublishedPort {
  containerPort: number;
  hostPort: number;
  protocol: Protocol;
  /** "" for every address of the host (hostIP absent or 0.0.0.0). */
  hostIP: string;
}

export function resolvePort(p: PortSpec): PublishedPort {
  // 0.0.0.0 is "every address" to a user (as in docker -p), but a DNAT rule on
  // destination 0.0.0.0 would match nothing: it becomes "no address given".
  const hostIP = p.hostIP === undefined || p.hostIP === '0.0.0.0' ? '' : p.hostIP;
  return { containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol ?? 'TCP', hostIP };
}

/** Whether two ports want the same host socket: same protocol and port, and an address in common. */
export function portsOverlap(a: PublishedPort, b: PublishedPort): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIP === '' || b.hostIP === '' || a.hostIP === b.hostIP);
}

/** "127.0.0.1:18080->8080/tcp", "0.0.0.0:53->53/udp": how docker shows a published port. */
export function formatPort(p: PublishedPort): string {
  return `${p.hostIP || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol.toLowerCase()}`;
}

/** The host side only: "127.0.0.1:18080/TCP". */
export function formatHostPort(p: PublishedPort): string {
  return `${p.hostIP || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

const IPV4_RE = new RegExp(IPV4_PATTERN);

/**
 * What JSON Schema cannot say about `spec.ports`: only a bridge container publishes, and one
 * spec does not publish the same host socket twice. Defensive: the document may also have
 * failed the schema, so only well-typed items are looked at.
 */
export function portIssues(spec: Record<string, unknown>): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  if (!Array.isArray(spec.ports) || spec.ports.length === 0) return out;
  if (spec.network !== 'bridge') {
    out.push({ path: 'spec.ports', message: `publishes ports only with network: bridge (network is ${quote(String(spec.network ?? 'none'))})` });
  }
  const seen: Array<{ port: PublishedPort; at: string }> = [];
  spec.ports.forEach((raw, i) => {
    const p = obj(raw);
    if (!p || !Number.isInteger(p.hostPort) || !Number.isInteger(p.containerPort)) return;
    if (p.hostIP !== undefined && (typeof p.hostIP !== 'string' || !IPV4_RE.test(p.hostIP))) return;
    if (p.protocol !== undefined && p.protocol !== 'TCP' && p.protocol !== 'UDP') return;
    const port = resolvePort(p as unknown as PortSpec);
    const at = fieldPath(fieldPath('spec.ports', i), 'hostPort');
    const first = seen.find((s) => portsOverlap(s.port, port));
    if (first) out.push({ path: at, message: `publishes ${formatHostPort(port)} again (also ${first.at})` });
    else seen.push({ port, at });
  });
  return out;
}
