// `converge auto-update [--dry-run]`: asks the running controller to check every autoUpdate
// container's tag now (POST /v1/auto-update on its --listen server) and prints what each
// check found: up to date, would update (dry run), updating, failed before, or an error.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { serverFromState } from './status.js';
import type { UpdateReport } from '../reconcile/updater.js';

export async function autoUpdateCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args, options: { ...COMMON, server: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } });
  const server = values.server ?? (await serverFromState(path.resolve(values['state-dir'])));
  if (!server) throw new Error('auto-update: no running controller found (start `converge run --listen HOST:PORT`, or pass --server)');
  const url = `http://${server}/v1/auto-update${values['dry-run'] ? '?dryRun=1' : ''}`;
  // A check pulls new digests before it answers: give it the time a pull takes.
  const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(10 * 60_000) });
  if (!res.ok) throw new Error(`auto-update: ${server} answered ${res.status}`);
  const body = (await res.json()) as { dryRun: boolean; containers: UpdateReport[] };
  if (body.containers.length === 0) out.write('no container has autoUpdate: registry\n');
  const width = Math.max(4, ...body.containers.map((r) => r.key.length));
  for (const r of body.containers) out.write(`${r.key.padEnd(width)}  ${r.result.padEnd(13)}  ${r.image}: ${r.message}\n`);
  return body.containers.some((r) => r.result === 'error') ? 1 : 0;
}
