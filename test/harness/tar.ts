// Writes deterministic ustar archives in memory: the caller's order, fixed owner and mtime,
// no host metadata, so the same inputs give the same bytes (and image digests) everywhere.

import { HarnessError } from './exec.js';

export type TarEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string };

/** 2000-01-01T00:00:00Z: fixed, and not 0, which some tools treat as "unset". */
export const FIXED_MTIME = 946_684_800;

const BLOCK = 512;

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) {
    throw new HarnessError('HARNESS_BAD_ARCHIVE', `tar field too long (${bytes.length} > ${length}): ${value}`);
  }
  bytes.copy(buf, offset);
}

/** Octal, zero-padded, NUL-terminated, as ustar numeric fields are. */
function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  writeString(buf, offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, entry.type === 'symlink' ? 0o777 : entry.mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, FIXED_MTIME);
  h.fill(' ', 148, 156); // checksum is computed with its own field as spaces
  writeString(h, 156, 1, entry.type === 'file' ? '0' : entry.type === 'symlink' ? '2' : '5');
  if (entry.type === 'symlink') writeString(h, 157, 100, entry.target);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** The archive, entries in the order given, ended by the two zero blocks. */
export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? entry.data : Buffer.alloc(0);
    parts.push(header(entry, data.length), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
