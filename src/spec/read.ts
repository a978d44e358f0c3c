// Reads one spec file from disk, treating the path as untrusted: only a regular file is
// read, bounded in size, and its bytes must be UTF-8. The kind is checked on the open
// handle, never on the path: a check of the path could be answered by a regular file that
// is swapped for a FIFO before open.

import type { Stats } from 'node:fs';
import { constants, open, stat, type FileHandle } from 'node:fs/promises';
import { FileTooLargeError, FileUnreadableError, InvalidUtf8Error, NotRegularFileError, SpecError } from './errors.js';
import { DEFAULT_MAX_BYTES } from './yaml.js';

/**
 * O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, forever, before
 * there is a handle to check. O_NOCTTY: a terminal named as a spec file must not become the
 * controlling terminal of converge. Neither changes how a regular file reads.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** What a file is when it is not a regular file ("a FIFO"), or undefined for a regular file. */
export function notRegularKind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Reads a spec file, refusing what is not a regular file or is over the size limit. Throws a SpecError. */
export async function readSpecFile(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw await openFailed(path, err);
  }
  try {
    const st = await handle.stat();
    const kind = notRegularKind(st);
    if (kind !== undefined) throw new NotRegularFileError(kind);
    if (st.size > maxBytes) throw new FileTooLargeError(st.size, maxBytes);
    return decodeSpecText(await readBounded(handle, st.size, maxBytes));
  } catch (err) {
    throw err instanceof SpecError ? err : unreadable(err);
  } finally {
    await handle.close();
  }
}

/** The file may change between the stat and the read: read until EOF, but never more than one byte past the limit. */
async function readBounded(handle: FileHandle, size: number, maxBytes: number): Promise<Buffer> {
  let buf: Buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
  let n = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
    n += bytesRead;
    if (bytesRead === 0 || n > maxBytes) break;
    if (n === buf.length) buf = grown(buf, maxBytes);
  }
  if (n > maxBytes) throw new FileTooLargeError(n, maxBytes);
  return buf.subarray(0, n);
}

function grown(buf: Buffer, maxBytes: number): Buffer {
  const next = Buffer.alloc(Math.min(buf.length * 2, maxBytes + 1));
  buf.copy(next);
  return next;
}

/**
 * The text of a spec file's bytes. Strict: a lenient decoder turns every bad byte into
 * U+FFFD, so a Latin-1 file would load as a different spec than its author sees. A leading
 * byte order mark is dropped (JSON.parse refuses one). Throws InvalidUtf8Error.
 */
export function decodeSpecText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstBadByte(bytes);
    let line = 1;
    for (let i = bytes.indexOf(0x0a); i >= 0 && i < at; i = bytes.indexOf(0x0a, i + 1)) line++;
    throw new InvalidUtf8Error(bytes[at], at, line);
  }
}

/**
 * Where the first ill-formed sequence starts. The decoder does not say, so the shortest
 * prefix that a streaming strict decoder refuses is found by bisection (a prefix that holds
 * an error stays refused as it grows, and streaming lets a prefix end inside a character).
 * The refused byte may be one that cut a sequence short: the sequence's lead byte is the
 * bad one then.
 */
function firstBadByte(bytes: Uint8Array): number {
  const refused = (end: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end), { stream: true });
      return false;
    } catch {
      return true;
    }
  };
  // Refused only when flushed: the file ends inside a sequence.
  let end = bytes.length;
  if (refused(end)) {
    let lo = 0;
    while (end - lo > 1) {
      const mid = (lo + end) >>> 1;
      if (refused(mid)) end = mid;
      else lo = mid;
    }
    end--; // the byte whose arrival was refused
  }
  return openSequenceAt(bytes, end) ?? Math.min(end, bytes.length - 1);
}

/** The lead byte of a multi-byte sequence still open at `end` (its continuation bytes are all before `end`). */
function openSequenceAt(bytes: Uint8Array, end: number): number | undefined {
  for (let i = end - 1; i >= 0 && i >= end - 3; i--) {
    const b = bytes[i];
    if (b < 0x80) return undefined;
    if (b >= 0xc0) {
      const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return i + length > end ? i : undefined;
    }
  }
  return undefined;
}

/**
 * Opening a socket fails (ENXIO) before there is a handle to look at; the path is looked at
 * then, only to say what it is: nothing is read from it.
 */
async function openFailed(path: string, err: unknown): Promise<SpecError> {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENXIO') {
    const kind = await stat(path).then(notRegularKind, () => undefined);
    if (kind !== undefined) return new NotRegularFileError(kind, err);
  }
  return unreadable(err);
}

function unreadable(err: unknown): FileUnreadableError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = code === 'ENOENT' ? 'file does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot read file (${code ?? String(err)})`;
  return new FileUnreadableError(what, err);
}
