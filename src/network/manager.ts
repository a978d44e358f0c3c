// The bridge network of one converge: attaches containers to it (a namespace of their own,
// loopback, then the bridge list: address, published ports, firewall), detaches them
// leaving nothing behind, and keeps the /etc/hosts of every attached container naming its
// peers. What is attached lives in memory and in the result cache under the state dir, so
// that a restarted converge adopts running containers' networks instead of adding them
// again (collect.ts does that at start-up).

import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { formatHostPort, portsOverlap, type PublishedPort } from '../spec/ports.js';
import { CONTAINER_IFNAME, LOOPBACK_LIST, bridgeList, portMappings } from './bridge.js';
import { ResultCache, attachmentOf, namespaceOfKey, type CacheEntry } from './cache.js';
import { collect } from './collect.js';
import { addNetworkList, containerIp, delNetworkList, unsupportedPlugins, type NetworkList } from './conflist.js';
import { NetworkSetupError, PortConflictError } from './errors.js';
import { hostsFile, resolvConf, writeInPlace, type Peer } from './hosts.js';
import { hostNetns, type NetnsOps } from './netns.js';
import { execPlugins, type PluginExec } from './plugin.js';

export interface BridgeNetworkOptions {
  /** Where the network's state lives: <state-dir>/network. */
  dir: string;
  bridge: string;
  subnet: string;
  /** Directories of the CNI plugin binaries. */
  pluginDirs: string[];
  log: Logger;
  /** Every container ID the runtime has now: what start-up garbage collection keeps. */
  listLive: () => Promise<ReadonlySet<string>>;
  /** Deadline of one plugin run (default 30 s). */
  timeoutMs?: number;
  /** Instead of the plugin binaries (tests). */
  exec?: PluginExec;
  /** Instead of unshare/umount (tests). */
  netns?: NetnsOps;
  /** The host's resolv.conf, and systemd-resolved's upstream one when it has it. */
  readResolv?: () => Promise<{ host: string; upstream?: string }>;
}

/** What a container asks of the network. */
export interface AttachRequest {
  containerId: string;
  /** "namespace/name". */
  key: string;
  /** Names it has for itself besides its name (its hostname, when that differs). */
  hostnames: string[];
  ports: PublishedPort[];
}

/** What the network gave a container. */
export interface NetworkInfo {
  ip?: string;
  ports: PublishedPort[];
}

/** The paths a container's OCI spec names: its namespace and its two name files. */
export interface ContainerFiles {
  netns: string;
  hosts: string;
  resolv: string;
}

async function readHostResolv(): Promise<{ host: string; upstream?: string }> {
  const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const upstream = await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => undefined);
  return { host, upstream };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class BridgeNetwork {
  /** Attachments by container ID: begun, done, or failed and not yet undone. */
  readonly table = new Map<string, CacheEntry>();
  readonly cache: ResultCache;
  readonly list: NetworkList;
  readonly exec: PluginExec;
  readonly netns: NetnsOps;
  readonly log: Logger;
  /** What each container's /etc/hosts holds now, so that unchanged files are not rewritten. */
  private readonly written = new Map<string, string>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private hostsChain: Promise<void> = Promise.resolve();
  private collecting?: Promise<void>;
  private versions?: Promise<void>;

  constructor(readonly opts: BridgeNetworkOptions) {
    this.log = opts.log.child({ component: 'network', bridge: opts.bridge });
    this.cache = new ResultCache(path.join(opts.dir, 'results'));
    this.list = bridgeList({ bridge: opts.bridge, subnet: opts.subnet, ipamDir: path.join(opts.dir, 'ipam') });
    this.exec = opts.exec ?? execPlugins({ dirs: opts.pluginDirs, timeoutMs: opts.timeoutMs ?? 30_000 });
    this.netns = opts.netns ?? hostNetns();
  }

  files(containerId: string): ContainerFiles {
    const etc = path.join(this.opts.dir, 'etc', containerId);
    return { netns: path.join(this.opts.dir, 'netns', containerId), hosts: path.join(etc, 'hosts'), resolv: path.join(etc, 'resolv.conf') };
  }

  /** Where host-local keeps this network's allocations. */
  get ipamDir(): string {
    return path.join(this.opts.dir, 'ipam', this.list.name);
  }

  info(containerId: string): NetworkInfo | undefined {
    const e = this.table.get(containerId);
    return e && { ip: containerIp(e.result), ports: e.ports };
  }

  /** Why `ports` cannot be published for `containerId`: a container that holds one of them already. */
  conflict(containerId: string, ports: readonly PublishedPort[]): string | undefined {
    for (const [id, e] of this.table) {
      if (id === containerId) continue;
      for (const p of ports) {
        const held = e.ports.find((q) => portsOverlap(p, q));
        if (held) return `hostPort ${formatHostPort(p)} is published by ${e.key} already (${formatHostPort(held)})`;
      }
    }
    return undefined;
  }

  /** The start-up collection (collect.ts), once; everything else waits for it. */
  collectOnce(live?: ReadonlySet<string>): Promise<void> {
    this.collecting ??= (async () => collect(this, live ?? (await this.opts.listLive())))().catch((err: unknown) => {
      this.collecting = undefined; // a failed listing is tried again by the next caller
      throw err;
    });
    return this.collecting;
  }

  /**
   * Attaches the container as asked; an attachment that is there already with the same
   * ports and a live namespace is kept as it is (a task restart, a converge restart).
   * Throws PortConflictError when another container holds one of the ports.
   */
  async attach(req: AttachRequest): Promise<NetworkInfo> {
    await this.collectOnce();
    await this.checkVersions();
    await this.serial(req.containerId, () => this.attachNow(req));
    await this.refreshHosts(namespaceOfKey(req.key));
    return this.info(req.containerId) ?? { ports: req.ports };
  }

  private async attachNow(req: AttachRequest): Promise<void> {
    const id = req.containerId;
    const current = this.table.get(id);
    if (current?.result && same(current.ports, req.ports) && same(current.list, this.list) && (await this.netns.isMounted(current.netns))) {
      if (!same(current.hostnames, req.hostnames) || current.key !== req.key) {
        Object.assign(current, { key: req.key, hostnames: req.hostnames });
        await this.cache.write(current);
      }
      return;
    }
    // Nothing new over an attachment that could not be undone: teardown throws then.
    if (current) await this.teardown(current);
    const held = this.conflict(id, req.ports);
    if (held) throw new PortConflictError(held);
    const files = this.files(id);
    const entry: CacheEntry = {
      containerId: id, key: req.key, hostnames: req.hostnames, netns: files.netns, ifName: CONTAINER_IFNAME,
      list: this.list, capabilityArgs: { portMappings: portMappings(req.ports) }, ports: req.ports,
    };
    // Taken before the first await: two containers asking for one port cannot both pass.
    this.table.set(id, entry);
    try {
      await this.cache.write(entry); // first: a crash from here on leaves a record of what to undo
      await this.netns.create(entry.netns);
      await addNetworkList(this.exec, LOOPBACK_LIST, { containerId: id, netns: entry.netns, ifName: 'lo' });
      entry.result = await addNetworkList(this.exec, entry.list, attachmentOf(entry), (r) => (entry.partial = r));
      delete entry.partial;
      await this.cache.write(entry);
      const { host, upstream } = await (this.opts.readResolv ?? readHostResolv)();
      await mkdir(path.dirname(files.resolv), { recursive: true, mode: 0o755 });
      await writeInPlace(files.resolv, resolvConf(host, upstream));
    } catch (err) {
      await this.teardown(entry).catch((e: unknown) => this.log.warn({ id, err: e }, 'could not undo a failed attachment; collected at the next start'));
      throw err;
    }
    this.log.info({ id, key: req.key, ip: containerIp(entry.result) }, 'container attached to the bridge');
  }

  /** Detaches the container; one that is not attached is fine. Throws when a DEL fails (the record stays for a retry). */
  async detach(containerId: string): Promise<void> {
    await this.collectOnce();
    let key: string | undefined;
    await this.serial(containerId, async () => {
      const entry = this.table.get(containerId);
      key = entry?.key;
      if (entry) return this.teardown(entry);
      // Leftovers of an attachment that never got as far as a record.
      const files = this.files(containerId);
      await this.netns.remove(files.netns);
      await rm(path.dirname(files.hosts), { recursive: true, force: true });
    });
    if (key) await this.refreshHosts(namespaceOfKey(key));
  }

  /**
   * DEL with the cached result (or what half an ADD reported), then the namespace, the name
   * files and the record. The namespace goes last: the bridge plugin finds the address
   * whose masquerade rule it removes on the interface inside it.
   */
  async teardown(entry: CacheEntry): Promise<void> {
    const mounted = await this.netns.isMounted(entry.netns);
    await delNetworkList(this.exec, entry.list, { ...attachmentOf(entry), netns: mounted ? entry.netns : '' }, entry.result ?? entry.partial);
    await this.netns.remove(entry.netns);
    if (this.table.get(entry.containerId) === entry) this.table.delete(entry.containerId);
    // On the rewrites' own queue, and out of the table first: a rewrite of the peers' files
    // going on now must not make this container's file again as its directory goes.
    await this.onHostsQueue(async () => {
      this.written.delete(entry.containerId);
      await rm(path.dirname(this.files(entry.containerId).hosts), { recursive: true, force: true });
    });
    await this.cache.remove(entry.containerId);
    this.log.info({ id: entry.containerId, key: entry.key }, 'container detached from the bridge');
  }

  /**
   * Rewrites, in place, the /etc/hosts of every attached container of `namespace` (of
   * all, when absent) whose content changed. One rewrite at a time.
   */
  refreshHosts(namespace?: string): Promise<void> {
    return this.onHostsQueue(async () => {
      const peers: Array<Peer & { id: string }> = [];
      for (const e of this.table.values()) {
        const ip = containerIp(e.result);
        if (ip) peers.push({ id: e.containerId, namespace: namespaceOfKey(e.key), name: e.key.slice(e.key.indexOf('/') + 1), ip, hostnames: e.hostnames });
      }
      for (const self of peers) {
        if (namespace !== undefined && self.namespace !== namespace) continue;
        if (!this.table.has(self.id)) continue; // detached while the others were written
        const content = hostsFile(self, peers);
        if (this.written.get(self.id) === content) continue;
        const file = this.files(self.id).hosts;
        await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
        await writeInPlace(file, content);
        this.written.set(self.id, content);
      }
    });
  }

  /** Runs `fn` after every earlier rewrite of the name files has settled. */
  private onHostsQueue(fn: () => Promise<void>): Promise<void> {
    const next = this.hostsChain.then(fn);
    this.hostsChain = next.catch((err: unknown) => this.log.warn({ err }, 'could not rewrite /etc/hosts'));
    return next;
  }

  /** The plugins must speak our cniVersion; asked once, before the first ADD. */
  private checkVersions(): Promise<void> {
    this.versions ??= unsupportedPlugins(this.exec, { ...this.list, plugins: [...LOOPBACK_LIST.plugins, ...this.list.plugins] }).then(
      (bad) => {
        if (bad.length > 0) throw new NetworkSetupError(`CNI plugins that do not speak cniVersion ${this.list.cniVersion}: ${bad.join(', ')}`);
      },
    );
    this.versions.catch(() => (this.versions = undefined)); // installed meanwhile: ask again next time
    return this.versions;
  }

  /** Runs `fn` after every earlier call for the same container has settled. */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return next;
  }
}

