// Following a container's task log as it grows (`converge logs -f`): reads what is added to
// the current file, and when the logger rotates it (the name then holds another file),
// reads the old file to its end and goes on with the new one. It wakes on fs.watch events
// of the logs dir and, should those not come (some file systems send none), every second.

import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { type LogRecord, parseRecord } from './cri.js';
import { linesForward } from './read.js';

const POLL_MS = 1000;

/** Where following starts: an open file of the log and the offset of its first unread line. */
export interface FollowFrom {
  handle: FileHandle;
  ino: number;
  offset: number;
}

/** Calls `onRecord` with each record written to the log `file` from `from` on, until `signal` aborts. */
export async function followLog(file: string, from: FollowFrom | undefined, onRecord: (r: LogRecord) => Promise<void> | void, signal: AbortSignal): Promise<void> {
  let cur = from;
  let wake: (() => void) | undefined;
  let poked = false; // an event came while reading: read again at once
  const poke = (): void => {
    poked = true;
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name === null || name.startsWith(path.basename(file))) poke();
    });
    watcher.on('error', () => undefined); // the timer still wakes it
  } catch {
    // No logs dir yet: the timer alone.
  }
  signal.addEventListener('abort', poke);
  const drain = async (c: FollowFrom): Promise<void> => {
    const { size } = await c.handle.stat();
    if (size < c.offset) c.offset = 0; // truncated: read it anew
    const position = { offset: c.offset };
    for await (const line of linesForward(c.handle, c.offset, size, position)) {
      const r = parseRecord(line);
      if (r) await onRecord(r);
    }
    c.offset = position.offset;
  };
  try {
    while (!signal.aborted) {
      poked = false;
      if (cur) await drain(cur);
      const st = await stat(file).catch(() => undefined);
      if (cur && st?.ino !== cur.ino) {
        // Rotated (or removed): what the logger wrote before the rename is still to read.
        await drain(cur);
        await cur.handle.close();
        cur = undefined;
      }
      if (!cur && st) {
        const handle = await open(file, 'r').catch(() => undefined);
        if (handle) {
          cur = { handle, ino: (await handle.stat()).ino, offset: 0 };
          continue;
        }
      }
      if (poked) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', poke);
    watcher?.close();
    await cur?.handle.close();
  }
}
