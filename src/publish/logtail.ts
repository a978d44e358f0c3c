// The last lines of a container's log file, bounded whatever the file holds: at most
// MAX_TAIL_LINES lines read from at most the last MAX_TAIL_BYTES bytes, each line cut at
// MAX_LINE_CHARS. `converge logs` and the status page's GET /v1/logs read logs through here.

import { open } from 'node:fs/promises';
import path from 'node:path';

export const MAX_TAIL_LINES = 1000;
export const MAX_TAIL_BYTES = 256 * 1024;
export const MAX_LINE_CHARS = 4096;

/** Where the task of container `id` writes stdout and stderr under the state dir (containerd's file://). */
export function logPath(stateDir: string, id: string): string {
  return path.join(stateDir, 'logs', `${id}.log`);
}

export interface LogTail {
  lines: string[];
  /** Older output exists before the first line (the byte window did not reach the file's start). */
  partial: boolean;
}

/**
 * The last `lines` lines of `file` (1..MAX_TAIL_LINES). A missing file is no output yet
 * (the task has not written, or never started): empty, not an error.
 */
export async function readLogTail(file: string, lines: number, maxBytes = MAX_TAIL_BYTES): Promise<LogTail> {
  const want = Math.max(1, Math.min(MAX_TAIL_LINES, Math.floor(lines)));
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], partial: false };
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buf, 0, buf.length, start);
    let text = buf.subarray(0, bytesRead).toString('utf8');
    // A window that starts mid-file starts mid-line: that fragment is not a line.
    if (start > 0) {
      const nl = text.indexOf('\n');
      text = nl < 0 ? '' : text.slice(nl + 1);
    }
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    const out = all.slice(-want).map((l) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)}…` : l));
    return { lines: out, partial: start > 0 || all.length > want };
  } finally {
    await handle.close();
  }
}
