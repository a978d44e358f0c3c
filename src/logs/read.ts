// Reading a container's task log: its files (rotated ones, oldest first, then the current
// one) as records and lines, from the start or from the end. Files are opened once and
// read through their handles, so a rotation while reading moves nothing under the reader.
// The logs command and the status page's log tail read through here.

import { open, type FileHandle } from 'node:fs/promises';
import { LineJoiner, type LogLine, type LogRecord, parseRecord, timeOf } from './cri.js';
import { logFileOf, logFiles } from './files.js';

const BLOCK = 64 * 1024;
/** Longer than any record the logger writes: what a line of this length holds is not a record. */
const LINE_LIMIT = 256 * 1024;

/** One file of a log, open: read up to `size`, the size it had when opened. */
export interface OpenLogFile {
  name: string;
  handle: FileHandle;
  size: number;
  ino: number;
}

/** Opens every file of the log `file`, oldest first; a file rotated away meanwhile is left out. */
export async function openLog(file: string): Promise<OpenLogFile[]> {
  const out: OpenLogFile[] = [];
  const seen = new Set<number>();
  for (const name of await logFiles(file)) {
    const handle = await open(name, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!handle) continue;
    const st = await handle.stat();
    // Rotated between the listing and the open: the same file under its next name.
    if (seen.has(st.ino)) {
      await handle.close();
      continue;
    }
    seen.add(st.ino);
    out.push({ name, handle, size: st.size, ino: st.ino });
  }
  return out;
}

export async function closeLog(files: OpenLogFile[]): Promise<void> {
  await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
}

/**
 * The lines of `handle` from `start` to `end`, each without its newline. A last line with
 * no newline yet is left out; `position.offset` ends after the last line given.
 */
export async function* linesForward(handle: FileHandle, start: number, end: number, position = { offset: start }): AsyncGenerator<string> {
  let carry = Buffer.alloc(0);
  let at = start;
  position.offset = start;
  while (at < end) {
    const buf = Buffer.alloc(Math.min(BLOCK, end - at));
    const { bytesRead } = await handle.read(buf, 0, buf.length, at);
    if (bytesRead === 0) break;
    at += bytesRead;
    let chunk = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    let nl: number;
    while ((nl = chunk.indexOf(10)) >= 0) {
      position.offset += nl + 1;
      yield chunk.subarray(0, nl).toString('utf8');
      chunk = chunk.subarray(nl + 1);
    }
    carry = chunk.length > LINE_LIMIT ? Buffer.alloc(0) : Buffer.from(chunk);
  }
}

/** The lines of `handle` up to `end`, last first. */
async function* linesBackward(handle: FileHandle, end: number): AsyncGenerator<string> {
  let carry = Buffer.alloc(0); // the end of a line whose start is further back, with its newline
  let at = end;
  let ended = false;
  while (at > 0) {
    const n = Math.min(BLOCK, at);
    at -= n;
    const buf = Buffer.alloc(n);
    await handle.read(buf, 0, n, at);
    let chunk = Buffer.concat([buf, carry]);
    if (!ended) {
      // An unfinished last line (being written) is not a line yet.
      chunk = chunk.subarray(0, chunk.lastIndexOf(10) + 1);
      ended = chunk.length > 0;
    }
    let nl: number;
    // Every newline but the chunk's last ends the line before the text after it.
    while (chunk.length >= 2 && (nl = chunk.lastIndexOf(10, chunk.length - 2)) >= 0) {
      yield chunk.subarray(nl + 1, chunk.length - 1).toString('utf8');
      chunk = chunk.subarray(0, nl + 1);
    }
    carry = chunk.length > LINE_LIMIT ? Buffer.alloc(0) : Buffer.from(chunk);
  }
  if (carry.length > 1) yield carry.subarray(0, carry.length - 1).toString('utf8');
}

/** The offset just after the last whole line of `handle` before `size` (0 if none is in reach). */
export async function lineEnd(handle: FileHandle, size: number): Promise<number> {
  const n = Math.min(size, LINE_LIMIT);
  const buf = Buffer.alloc(n);
  await handle.read(buf, 0, n, size - n);
  const nl = buf.lastIndexOf(10);
  return nl < 0 ? 0 : size - n + nl + 1;
}

/** Every record of the files in order, those before `sinceMs` left out. */
export async function* recordsForward(files: OpenLogFile[], sinceMs?: number): AsyncGenerator<LogRecord> {
  for (const f of files) {
    for await (const line of linesForward(f.handle, 0, f.size)) {
      const r = parseRecord(line);
      if (r && (sinceMs === undefined || !(timeOf(r.time) < sinceMs))) yield r;
    }
  }
}

/**
 * The records of the last `lines` lines of the files, in order (with the P records that
 * begin the first of them), those before `sinceMs` left out, at most `bound.maxBytes` of them (`hit` says it cut).
 * Reads from the end, so a short tail of a large log reads little of it.
 */
export async function recordsTail(files: OpenLogFile[], lines: number, sinceMs?: number, bound?: { maxBytes: number; hit?: boolean }): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let full = 0;
  let bytes = 0;
  outer: for (const f of [...files].reverse()) {
    for await (const line of linesBackward(f.handle, f.size)) {
      const r = parseRecord(line);
      if (!r) continue;
      if (sinceMs !== undefined && timeOf(r.time) < sinceMs) break outer;
      if (r.full && full === lines) break outer;
      // A bound for readers that must not read a line of any length (the status page).
      if (bound && (bytes += line.length) > bound.maxBytes) {
        bound.hit = true;
        break outer;
      }
      if (r.full) full++;
      out.push(r);
    }
  }
  return out.reverse();
}

/** Joins records into lines; a line whose end is not in the records comes last. */
export function joinLines(records: Iterable<LogRecord>): LogLine[] {
  const joiner = new LineJoiner();
  const out: LogLine[] = [];
  for (const r of records) {
    const line = joiner.push(r);
    if (line) out.push(line);
  }
  return [...out, ...joiner.flush()];
}

/**
 * The last `lines` lines of the task log of container `namespace/name` under `stateDir`
 * (fewer if the log is shorter; none if there is no log), oldest first.
 */
export async function readLogTail(stateDir: string, namespace: string, name: string, lines: number): Promise<LogLine[]> {
  const files = await openLog(logFileOf(stateDir, `${namespace}/${name}`));
  try {
    return joinLines(await recordsTail(files, lines)).slice(-lines);
  } finally {
    await closeLog(files);
  }
}
