// What converge remembers of each attachment, on disk under the state dir, so that a
// restarted converge can DEL with the result of the ADD (and CHECK with it) instead of
// adding again: the network list the ADD ran with, its runtime arguments, and its result.
// An entry is written before the ADD begins (without a result) and again after it, so a
// crash anywhere in between leaves a record of what to undo.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PublishedPort } from '../spec/ports.js';
import type { Attachment, CniResult, NetworkList } from './conflist.js';

export interface CacheEntry {
  containerId: string;
  /** "namespace/name" of the container: whose peers it has in /etc/hosts. */
  key: string;
  /** The names the container has for itself in its /etc/hosts (its hostname first). */
  hostnames: string[];
  netns: string;
  ifName: string;
  list: NetworkList;
  capabilityArgs: Record<string, unknown>;
  ports: PublishedPort[];
  /** The ADD's result; absent while the ADD has not finished (or never did). */
  result?: CniResult;
  /** The result of the plugins that did finish, when an ADD failed half-way. */
  partial?: CniResult;
}

const SUFFIX = '.json';

export class ResultCache {
  constructor(readonly dir: string) {}

  private file(containerId: string): string {
    return path.join(this.dir, `${containerId}${SUFFIX}`);
  }

  /** Written aside and renamed, so a crash never leaves half an entry. */
  async write(entry: CacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(entry.containerId);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(entry) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  }

  async remove(containerId: string): Promise<void> {
    await rm(this.file(containerId), { force: true });
  }

  /** Every entry, and the files that are not one (unreadable, or a temp file of a crash). */
  async readAll(): Promise<{ entries: CacheEntry[]; junk: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return { entries: [], junk: [] };
    }
    const entries: CacheEntry[] = [];
    const junk: string[] = [];
    for (const name of names.sort()) {
      const file = path.join(this.dir, name);
      const entry = name.endsWith(SUFFIX) ? parseEntry(await readFile(file, 'utf8').catch(() => '')) : undefined;
      if (entry && `${entry.containerId}${SUFFIX}` === name) entries.push(entry);
      else junk.push(file);
    }
    return { entries, junk };
  }
}

function parseEntry(text: string): CacheEntry | undefined {
  try {
    const e = JSON.parse(text) as CacheEntry;
    const ok = typeof e.containerId === 'string' && typeof e.key === 'string' && typeof e.netns === 'string' && typeof e.ifName === 'string'
      && Array.isArray(e.list?.plugins) && Array.isArray(e.ports) && Array.isArray(e.hostnames);
    return ok ? e : undefined;
  } catch {
    return undefined;
  }
}

/** The CNI attachment an entry is about. */
export function attachmentOf(e: CacheEntry): Attachment {
  return { containerId: e.containerId, netns: e.netns, ifName: e.ifName, capabilityArgs: e.capabilityArgs };
}

export function namespaceOfKey(key: string): string {
  return key.slice(0, key.indexOf('/'));
}
