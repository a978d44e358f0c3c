// Resolves a container's user ("app", "1000", "app:staff", "1000:1000") to numeric IDs
// from the image's own /etc/passwd and /etc/group, as docker and containerd do. The files
// are read from a read-only view of the image snapshot, mounted for the moment of reading.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, realpath, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseUser } from './oci.js';
import { ContainerdError, InvalidArgumentError } from './errors.js';
import type { Mount } from './proto.js';
import type { SnapshotsService } from './snapshots.js';

const run = promisify(execFile);

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface UserFiles {
  /** undefined when the image has no such file. */
  passwd?: string;
  group?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 4 || f[0] === '' || f[0].startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid) && f[2] !== '' && f[3] !== '') out.push({ name: f[0], uid, gid });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 3 || f[0] === '' || f[0].startsWith('#') || f[2] === '') continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/** True when resolving `user` needs the image's files; "uid:gid" and "" do not. */
export function needsUserFiles(user: string): boolean {
  const p = parseUser(user);
  return !(user === '' || (p.uid !== undefined && p.gid !== undefined));
}

/**
 * Numeric IDs for `user` given the image's files. A name must exist in them; a numeric
 * uid without a group takes its passwd entry's group (0 without one), as docker does; a
 * named user also gets the groups that list it as a member.
 */
export function resolveUser(user: string, files: UserFiles): ResolvedUser {
  const p = parseUser(user);
  if (user === '') return { uid: 0, gid: 0 };
  const passwd = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  let entry: PasswdEntry | undefined;
  if (p.userName !== undefined) {
    entry = passwd.find((e) => e.name === p.userName);
    if (!entry) throw new InvalidArgumentError(`user ${JSON.stringify(p.userName)} is not in the image's /etc/passwd`);
  } else if (p.uid !== undefined) {
    entry = passwd.find((e) => e.uid === p.uid);
  }
  const uid = p.uid ?? entry?.uid ?? 0;
  let gid = p.gid ?? entry?.gid ?? 0;
  if (p.groupName !== undefined) {
    const g = groups.find((e) => e.name === p.groupName);
    if (!g) throw new InvalidArgumentError(`group ${JSON.stringify(p.groupName)} is not in the image's /etc/group`);
    gid = g.gid;
  }
  const name = entry?.name;
  const extra = name
    ? [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))]
    : [];
  return extra.length > 0 ? { uid, gid, additionalGids: extra } : { uid, gid };
}

const MAX_FILE_BYTES = 1024 * 1024;
const MOUNT_TIMEOUT_MS = 10_000;

/**
 * A file of the mounted image; undefined when missing, too big, not a regular file, or when
 * it (or a parent) is a symlink leading out of the image: an image must not make converge
 * read host files, nor hang it. The image decides what /etc/passwd is: a FIFO there would
 * block a plain open() forever, a device could be read without end. So the file is opened
 * non-blocking and without following a last symlink (it was resolved just before), and
 * only read when fstat says it is a regular file.
 */
export async function readInside(root: string, file: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(path.join(root, file));
  } catch {
    return undefined;
  }
  if (!real.startsWith(root + path.sep)) return undefined;
  const fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_FILE_BYTES) return undefined;
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_FILE_BYTES) return undefined; // grew while being read
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** `mount` arguments for one containerd mount, forced read-only. */
export function mountArgs(m: Mount, target: string): string[] {
  const options = m.options.includes('ro') ? [...m.options] : [...m.options.filter((o) => o !== 'rw'), 'ro'];
  // util-linux takes bind mounts as options of an untyped mount.
  const type = m.type === 'bind' || m.type === 'rbind' ? [] : ['-t', m.type];
  return [...type, '-o', options.join(','), m.source, target];
}

/** Mounts `mounts` (one; snapshot views are one mount) read-only, reads the user files, unmounts. */
export async function readUserFiles(mounts: Mount[]): Promise<UserFiles> {
  if (mounts.length !== 1) {
    throw new ContainerdError('Unimplemented', `a snapshot view with ${mounts.length} mounts is not supported`);
  }
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'converge-view-')));
  try {
    await command('mount', mountArgs(mounts[0], dir));
    try {
      return { passwd: await readInside(dir, 'etc/passwd'), group: await readInside(dir, 'etc/group') };
    } finally {
      // A busy mount (something scanning /tmp) must not stay behind: detach it lazily.
      await command('umount', [dir]).catch(() => command('umount', ['-l', dir]));
    }
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

async function command(file: string, args: string[]): Promise<void> {
  try {
    await run(file, args, { timeout: MOUNT_TIMEOUT_MS });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new ContainerdError('Internal', `${file} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The user files of the image whose layers have chain ID `chainId`: a read-only view of
 * its snapshot (made under `lease`), mounted just long enough to read them.
 */
export async function readImageUserFiles(
  snapshots: SnapshotsService,
  snapshotter: string,
  chainId: string,
  lease: string,
  onLeak: (err: unknown, key: string) => void,
): Promise<UserFiles> {
  const key = `converge-view-${randomBytes(6).toString('hex')}`;
  const mounts = await snapshots.view(snapshotter, key, chainId, {}, { lease });
  try {
    return await readUserFiles(mounts);
  } finally {
    await snapshots.remove(snapshotter, key).catch((err: unknown) => onLeak(err, key));
  }
}
