// `converge status`: one row per container. Asks a running controller's /v1/status when
// one is known (--server, or the address `run` wrote to the state dir); otherwise reads
// containerd directly, which knows phases but not back-off or errors.

import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { resolveAddress } from '../embedded/address.js';
import { STATE_FILE } from './common.js';
import { createLogger } from '../log.js';
import { createContainerdRuntime } from '../containerd/runtime.js';
import { healthSummary, terminationText, updateSummary, type StatusRow } from '../reconcile/status.js';
import type { ActualContainer } from '../reconcile/runtime.js';
import { formatGitSources } from '../sources/git/format.js';
import { formatPort } from '../spec/ports.js';
import { ResultCache, type CacheEntry } from '../network/cache.js';
import { containerIp } from '../network/conflist.js';
import { type ServerRef, getFrom, serverFromFlag } from './server-client.js';
import { oneOf } from './usage.js';

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...COMMON, server: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' } } });
  const output = oneOf('-o', values.output, ['table', 'json'] as const);
  const stateDir = path.resolve(values['state-dir']);
  const server = values.server ? serverFromFlag(values.server) : await serverFromState(stateDir);
  let rows: StatusRow[];
  if (server) {
    const res = await getFrom(server, '/v1/status');
    if (res.status !== 200) throw new Error(`status: ${server.address}/v1/status answered ${res.status}`);
    rows = JSON.parse(res.body) as StatusRow[];
  } else {
    const { address } = await resolveAddress(values['containerd-address'], stateDir);
    const runtime = createContainerdRuntime({ address, namespace: values.namespace, stateDir, log: createLogger({ level: 'warn' }) });
    try {
      // No controller to ask: the bridge's addresses as its result cache last recorded them.
      const { entries } = await new ResultCache(path.join(stateDir, 'network', 'results')).readAll();
      const cached = new Map(entries.map((e) => [e.containerId, e]));
      rows = (await runtime.list()).map((c) => rowOf(c, cached.get(c.id)));
    } finally {
      runtime.close();
    }
  }
  if (output === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else process.stdout.write(formatTable(rows, Date.now()));
  if (server && output !== 'json') process.stdout.write(formatGitSources(await sourcesOf(server), Date.now()));
  return 0;
}

/** The controller's /v1/sources, or undefined (an older controller has none). */
async function sourcesOf(server: ServerRef): Promise<unknown> {
  try {
    const res = await getFrom(server, '/v1/sources');
    return res.status === 200 ? JSON.parse(res.body) : undefined;
  } catch {
    return undefined;
  }
}

/** The --listen address of the controller running on this state dir, if it is alive. */
export async function serverFromState(stateDir: string): Promise<ServerRef | undefined> {
  try {
    const state = JSON.parse(await fs.readFile(path.join(stateDir, STATE_FILE), 'utf8')) as { listen?: string | null; pid?: number; scheme?: string | null; tlsCert?: string | null };
    if (!state.listen || !state.pid) return undefined;
    process.kill(state.pid, 0); // throws when that controller is gone
    const address = state.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
    return state.scheme === 'https' ? { address, scheme: 'https', certFile: state.tlsCert ?? undefined } : { address, scheme: 'http' };
  } catch {
    return undefined;
  }
}

function rowOf(c: ActualContainer, net: CacheEntry | undefined): StatusRow {
  const [namespace, name] = c.key.split('/', 2);
  const task = c.task;
  const t = c.termination;
  const phase = !task
    ? (t?.reason === 'StartError' ? 'Failed' : 'Created')
    : task.status === 'stopped' ? 'Exited' : task.status === 'created' ? 'Created' : task.status === 'paused' || task.status === 'pausing' ? 'Paused' : 'Running';
  // An OOM kill reads on an exited task only (a task that runs again has left it behind).
  const shown = t && (t.reason === 'StartError' ? !task : task?.status === 'stopped');
  return {
    name,
    namespace,
    id: c.id,
    phase,
    restarts: c.restarts,
    exitCode: task?.status === 'stopped' ? (task.exitStatus ?? null) : !task ? (t?.exitCode ?? null) : null,
    message: shown ? terminationText(t) : '',
    pid: task && task.status !== 'stopped' ? task.pid : null,
    image: null,
    source: c.labels['converge.dev/source'] ?? null,
    revision: null,
    createdAt: c.createdAt?.toISOString() ?? null,
    startedAt: null,
    ip: containerIp(net?.result) ?? null,
    ports: (net?.result ? net.ports : []).map(formatPort),
    // Health lives in the running controller; containerd alone does not know it.
    health: null,
    healthFailures: 0,
    healthOutput: null,
    lastProbeAt: null,
    imageDigest: c.image?.digest ?? null,
    updatePhase: null,
    lastUpdate: null,
  };
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function formatTable(rows: StatusRow[], now: number): string {
  const header = ['NAMESPACE', 'NAME', 'PHASE', 'RESTARTS', 'AGE', 'EXIT', 'MESSAGE'];
  const cells = rows.map((r) => {
    const since = r.startedAt ?? r.createdAt;
    const message = [r.message, healthSummary(r), updateSummary(r)].filter(Boolean).join('; ');
    return [r.namespace, r.name, r.phase, String(r.restarts), since ? formatAge(now - Date.parse(since)) : '-', r.exitCode === null ? '-' : String(r.exitCode), message];
  });
  // A HEALTH column only when some container has a health check.
  if (rows.some((r) => r.health)) {
    header.splice(3, 0, 'HEALTH');
    cells.forEach((c, i) => c.splice(3, 0, rows[i].health ?? '-'));
  }
  // A REVISION column (the Git commit each spec was read at) only when some row has one.
  if (rows.some((r) => r.revision)) {
    const at = header.indexOf('MESSAGE');
    header.splice(at, 0, 'REVISION');
    cells.forEach((c, i) => c.splice(at, 0, rows[i].revision?.slice(0, 12) ?? '-'));
  }
  // IP and PORTS (the bridge) only when some container is on it.
  if (rows.some((r) => r.ip)) {
    const at = header.indexOf('MESSAGE');
    header.splice(at, 0, 'IP', 'PORTS');
    cells.forEach((c, i) => c.splice(at, 0, rows[i].ip ?? '-', rows[i].ports?.join(',') || '-'));
  }
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd() + '\n';
  return [header, ...cells].map(line).join('');
}
