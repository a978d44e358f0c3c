// converge's start-up pass over the network, as CRI runtimes make theirs: what a container
// that no longer exists left behind (a result, an address, a namespace, name files) is
// removed, so a crash between an ADD and the container's creation leaks nothing; what a
// live container has is adopted without a new ADD, after a CHECK. A check that fails
// (the rules flushed by a firewall reload, say), or an ADD a crash cut short, attaches the
// container again in the same namespace, so its task keeps running.

import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { attachmentOf, type CacheEntry, type ResultCache } from './cache.js';
import { addNetworkList, checkNetworkList, delNetworkList, type CniResult, type NetworkList } from './conflist.js';
import { CHECK_UNRELIABLE, CONTAINER_IFNAME } from './bridge.js';
import type { Logger } from '../log.js';
import type { NetnsOps } from './netns.js';
import type { PluginExec } from './plugin.js';

/** What collecting needs of the network (manager.ts's BridgeNetwork), named here so the two files do not import each other. */
export interface Collectable {
  readonly table: Map<string, CacheEntry>;
  readonly cache: ResultCache;
  readonly list: NetworkList;
  readonly exec: PluginExec;
  readonly netns: NetnsOps;
  readonly log: Logger;
  readonly opts: { readonly dir: string; readonly subnet: string };
  readonly ipamDir: string;
  files(containerId: string): { netns: string };
  teardown(entry: CacheEntry): Promise<void>;
  refreshHosts(namespace?: string): Promise<void>;
}

/** Plugin runs at once while checking adopted containers. */
const CHECKS_AT_ONCE = 4;

export async function collect(net: Collectable, live: ReadonlySet<string>): Promise<void> {
  const { entries, junk } = await net.cache.readAll();
  for (const file of junk) await rm(file, { force: true });
  for (const entry of entries) {
    if (live.has(entry.containerId)) net.table.set(entry.containerId, entry);
    else await collectEntry(net, entry);
  }
  // Before the namespaces go: the bridge plugin finds the address whose masquerade rule it
  // removes inside the namespace.
  await collectAllocations(net);
  const dir = net.opts.dir;
  for (const id of await names(path.join(dir, 'netns'))) {
    if (!net.table.has(id)) await net.netns.remove(path.join(dir, 'netns', id)).catch((err: unknown) => net.log.warn({ id, err }, 'could not remove a network namespace'));
  }
  for (const id of await names(path.join(dir, 'etc'))) {
    if (!net.table.has(id)) await rm(path.join(dir, 'etc', id), { recursive: true, force: true });
  }
  const adopted = [...net.table.values()];
  for (let i = 0; i < adopted.length; i += CHECKS_AT_ONCE) await Promise.all(adopted.slice(i, i + CHECKS_AT_ONCE).map((e) => adopt(net, e)));
  await net.refreshHosts();
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

async function collectEntry(net: Collectable, entry: CacheEntry): Promise<void> {
  try {
    await net.teardown(entry);
    net.log.info({ id: entry.containerId, key: entry.key }, 'removed the network of a container that no longer exists');
  } catch (err) {
    // Kept on disk: the next start tries again.
    net.log.warn({ id: entry.containerId, err }, 'could not remove the network of a container that no longer exists');
  }
}

/**
 * host-local's allocations whose owner has no record (its record lost with a state dir
 * restored from a backup, say): DEL by owner, with the address as the result, so that the
 * firewall plugin finds its rules too. host-local names each file after the address and
 * writes the owner's container ID on its first line.
 */
async function collectAllocations(net: Collectable): Promise<void> {
  const prefix = net.opts.subnet.split('/')[1];
  for (const name of await names(net.ipamDir)) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(name)) continue;
    const [owner, ifName] = (await readFile(path.join(net.ipamDir, name), 'utf8').catch(() => '')).split(/\r?\n/).map((s) => s.trim());
    if (!owner || net.table.has(owner)) continue;
    const result: CniResult = { cniVersion: net.list.cniVersion, interfaces: [], ips: [{ address: `${name}/${prefix}` }] };
    const netns = net.files(owner).netns;
    try {
      const at = { containerId: owner, netns: (await net.netns.isMounted(netns)) ? netns : '', ifName: ifName || CONTAINER_IFNAME };
      await delNetworkList(net.exec, net.list, at, result);
      net.log.info({ id: owner, ip: name }, 'released an address whose container no longer exists');
    } catch (err) {
      net.log.warn({ id: owner, ip: name, err }, 'could not release an address whose container no longer exists');
    }
  }
}

/**
 * A live container's attachment: kept when its CHECK passes; attached again in its own
 * namespace when the CHECK fails or its ADD never finished (its task may be running in
 * that namespace); undone when a reboot took the namespace (its next task start attaches
 * it anew).
 */
async function adopt(net: Collectable, entry: CacheEntry): Promise<void> {
  const id = entry.containerId;
  try {
    if (!(await net.netns.isMounted(entry.netns))) {
      await net.teardown(entry);
      return;
    }
    if (entry.result && (await checks(net, entry))) return;
    await delNetworkList(net.exec, entry.list, attachmentOf(entry), entry.result ?? entry.partial);
    delete entry.result;
    await net.cache.write(entry);
    entry.result = await addNetworkList(net.exec, entry.list, attachmentOf(entry), (r) => (entry.partial = r));
    delete entry.partial;
    await net.cache.write(entry);
    net.log.info({ id, key: entry.key }, 'container attached to the bridge again');
  } catch (err) {
    net.log.error({ id, key: entry.key, err }, 'could not adopt the network of a container');
  }
}

async function checks(net: Collectable, entry: CacheEntry): Promise<boolean> {
  try {
    await checkNetworkList(net.exec, entry.list, attachmentOf(entry), entry.result!, CHECK_UNRELIABLE);
    return true;
  } catch (err) {
    net.log.warn({ id: entry.containerId, key: entry.key, err }, 'network check failed; attaching the container again');
    return false;
  }
}
