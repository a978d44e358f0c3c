// `converge logs NAME [-f]`: prints the file that the container's task writes its stdout
// and stderr to (a file:// URI under the state dir), and with -f keeps following it,
// also across restarts of the task (the file is appended to, never replaced).

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { idOf } from '../containerd/labels.js';
import { logPath } from '../publish/logtail.js';

export { logPath };

export async function logsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...COMMON, follow: { type: 'boolean', short: 'f' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: converge logs NAME|NAMESPACE/NAME [-f]\n');
    return 2;
  }
  const name = positionals[0];
  const key = name.includes('/') ? name : `default/${name}`;
  const file = logPath(path.resolve(values['state-dir']), idOf(key));
  if (!fs.existsSync(file)) {
    process.stderr.write(`converge: no logs for ${key} (looked for ${file})\n`);
    return 1;
  }
  let offset = await copyFrom(file, 0);
  if (!values.follow) return 0;
  await new Promise<void>((resolve) => {
    const watcher = fs.watch(file, () => {
      void copyFrom(file, offset).then((next) => (offset = next));
    });
    process.once('SIGINT', () => {
      watcher.close();
      resolve();
    });
  });
  return 0;
}

async function copyFrom(file: string, offset: number): Promise<number> {
  const size = fs.statSync(file).size;
  if (size < offset) offset = 0; // truncated: start over
  if (size === offset) return offset;
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file, { start: offset, end: size - 1 })
      .on('error', reject)
      .on('end', resolve)
      .pipe(process.stdout, { end: false });
  });
  return size;
}
