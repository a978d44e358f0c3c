// `converge logs NAME [-f] [--tail N] [--since DURATION] [--timestamps]`: prints a
// container's task log (the CRI files the log driver writes under the state dir, rotated
// ones first) without the CRI prefix, stdout lines to stdout and stderr lines to stderr.
// With -f it keeps following the log, across rotations and restarts of the task.

import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { COMMON } from './common.js';
import { parseDuration } from '../duration.js';
import { LineJoiner, type LogLine, type LogRecord } from '../logs/cri.js';
import { logFileOf } from '../logs/files.js';
import { followLog, type FollowFrom } from '../logs/follow.js';
import { closeLog, lineEnd, openLog, recordsForward, recordsTail } from '../logs/read.js';

const USAGE = 'usage: converge logs NAME|NAMESPACE/NAME [-f] [--tail N] [--since DURATION] [--timestamps]\n';

export interface LogsOutput {
  stdout: Writable;
  stderr: Writable;
}

export async function logsCommand(args: string[], out: LogsOutput = process, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...COMMON,
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      since: { type: 'string' },
      timestamps: { type: 'boolean', short: 't' },
    },
  });
  if (values.help) {
    out.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    out.stderr.write(USAGE);
    return 2;
  }
  const tail = values.tail === undefined ? undefined : Number(values.tail);
  let sinceMs: number | undefined;
  try {
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new Error(`--tail: expected a whole number >= 0, got '${values.tail}'`);
    sinceMs = values.since === undefined ? undefined : Date.now() - parseDuration(values.since, '--since');
  } catch (err) {
    out.stderr.write(`converge: ${(err as Error).message}\n${USAGE}`); // a usage error
    return 2;
  }
  const name = positionals[0];
  const key = name.includes('/') ? name : `default/${name}`;
  const file = logFileOf(path.resolve(values['state-dir']), key);
  const files = await openLog(file);
  if (files.length === 0 && !values.follow) {
    out.stderr.write(`converge: no logs for ${key} (looked for ${file})\n`);
    return 1;
  }
  const joiner = new LineJoiner();
  const stop = new AbortController();
  // A reader that went away (`converge logs web | head`): stop, quietly.
  for (const s of [out.stdout, out.stderr]) s.on('error', () => stop.abort());
  const print = async (line: LogLine | undefined): Promise<void> => {
    if (!line || stop.signal.aborted) return;
    const to = line.stream === 'stderr' ? out.stderr : out.stdout;
    if (!to.write(values.timestamps ? `${line.time} ${line.text}\n` : `${line.text}\n`)) {
      await Promise.race([once(to, 'drain'), once(stop.signal, 'abort')]).catch(() => undefined);
    }
  };
  const onRecord = (r: LogRecord): Promise<void> => print(joiner.push(r));
  let from: FollowFrom | undefined;
  try {
    if (tail !== undefined) for (const r of await recordsTail(files, tail, sinceMs)) await onRecord(r);
    else for await (const r of recordsForward(files, sinceMs)) await onRecord(r);
    from = await followFrom(file, files);
  } finally {
    await closeLog(files.filter((f) => f.handle !== from?.handle));
  }
  if (!values.follow) {
    for (const line of joiner.flush()) await print(line);
    await from?.handle.close();
    return 0;
  }
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal);
  try {
    await followLog(file, from, onRecord, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}

/** The current file, if it is the last one read: following goes on from its last whole line. */
async function followFrom(file: string, files: Awaited<ReturnType<typeof openLog>>): Promise<FollowFrom | undefined> {
  const last = files.at(-1);
  if (!last || last.name !== file) return undefined;
  const st = await stat(file).catch(() => undefined);
  if (st?.ino !== last.ino) return undefined;
  return { handle: last.handle, ino: last.ino, offset: await lineEnd(last.handle, last.size) };
}
