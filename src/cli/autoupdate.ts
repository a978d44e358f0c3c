// `converge auto-update [--dry-run]`: asks the running controller to check every autoUpdate
// container's tag now (POST /v1/auto-update on its --listen server) and prints what each
// check found: up to date, would update (dry run), updating, failed before, or an error.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { serverFromState } from './status.js';
import { readFileSync } from 'node:fs';
import { requestTo, serverFromFlag } from './server-client.js';
import type { UpdateReport } from '../reconcile/updater.js';

export async function autoUpdateCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const options = { ...COMMON, server: { type: 'string' }, 'token-file': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } as const;
  const { values } = parseArgs({ args, options });
  const server = values.server ? serverFromFlag(values.server) : await serverFromState(path.resolve(values['state-dir']));
  if (!server) throw new Error('auto-update: no running controller found (start `converge run --listen HOST:PORT`, or pass --server)');
  // A listener with --listen-token-file takes a POST only with its bearer token.
  const token = values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : undefined;
  const p = `/v1/auto-update${values['dry-run'] ? '?dryRun=1' : ''}`;
  // A check pulls new digests before it answers: give it the time a pull takes.
  const res = await requestTo(server, p, { method: 'POST', timeoutMs: 10 * 60_000, token });
  if (res.status < 200 || res.status > 299) throw new Error(`auto-update: ${server.address} answered ${res.status}: ${res.body.slice(0, 200)}`);
  const body = JSON.parse(res.body) as { dryRun: boolean; containers: UpdateReport[] };
  if (body.containers.length === 0) out.write('no container has autoUpdate: registry\n');
  const width = Math.max(4, ...body.containers.map((r) => r.key.length));
  for (const r of body.containers) out.write(`${r.key.padEnd(width)}  ${r.result.padEnd(13)}  ${r.image}: ${r.message}\n`);
  return body.containers.some((r) => r.result === 'error') ? 1 : 0;
}
