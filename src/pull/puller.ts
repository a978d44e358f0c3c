// Pulls an image into containerd, as containerd's own client does (containerd does not
// pull for its clients): resolve the reference at the registry, fetch index, manifest and
// config, fetch the layers in parallel (bounded) while unpacking them in order into the
// snapshotter, and create or move the image record, all under one lease so the garbage
// collector leaves half-pulled content alone. A failed pull keeps its lease (it expires by
// itself), so the next try resumes the interrupted blobs. Two callers of the same image
// share one pull.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { PullProgress as RuntimePullProgress } from '../reconcile/runtime.js';
import type { ContainerdClient } from '../containerd/client.js';
import { ContentBlobStore } from '../containerd/blobstore.js';
import { ContentService } from '../containerd/content.js';
import { DiffService } from '../containerd/diff.js';
import { isAlreadyExists } from '../containerd/errors.js';
import { ImagesService } from '../containerd/images.js';
import type { Descriptor } from './descriptor.js';
import { LeasesService } from '../containerd/leases.js';
import { SnapshotsService } from '../containerd/snapshots.js';
import { type BlobContext, fetchBlob, putBlob } from './blob.js';
import { chainIds, verifyBytes } from './descriptor.js';
import { DigestMismatchError } from './errors.js';
import { type ImageManifest, indexLabels, manifestLabels, parseDiffIds } from './manifest.js';
import { type Platform, formatPlatform, hostPlatform } from './platform.js';
import { formatReference, parseReference } from '../spec/reference.js';
import type { RegistryClient, Repository } from './registry.js';
import { markUnpacked, type UnpackContext, unpackLayer } from './unpack.js';
import { resolve } from './resolve.js';

/** Bytes of the image's blobs fetched or found in the store (`done`) and in all (`total`, 0 until the manifest is read). */
export interface PullProgress extends RuntimePullProgress {
  image: string;
}

export interface PullOptions {
  /** Default: this machine's. */
  platform?: Platform;
  onProgress?: (p: PullProgress) => void;
}

export interface PullResult {
  /** The image record's name (the normalised reference). */
  name: string;
  /** Its target: the index or manifest the reference resolved to. */
  digest: string;
  manifestDigest: string;
  chainId: string;
  /** Bytes of the image's blobs, and of those that came over the network this time. */
  size: number;
  fetched: number;
  ms: number;
}

export interface PullerOptions {
  client: ContainerdClient;
  registry: RegistryClient;
  snapshotter: string;
  log: Logger;
  /** Layers fetched at once (docker's default is 3). */
  concurrency?: number;
  /** A pull's lease expires by itself after this (default 1 h). */
  leaseMs?: number;
}

interface Flight {
  promise: Promise<PullResult>;
  listeners: Set<(p: PullProgress) => void>;
  last?: PullProgress;
}

const PROGRESS_LOG_MS = 1_000;

export class Puller {
  private readonly content: ContentService;
  private readonly snapshots: SnapshotsService;
  private readonly diff: DiffService;
  private readonly images: ImagesService;
  private readonly leases: LeasesService;
  private readonly flights = new Map<string, Flight>();
  private readonly concurrency: number;
  private readonly leaseMs: number;

  constructor(private readonly opts: PullerOptions) {
    this.content = new ContentService(opts.client);
    this.snapshots = new SnapshotsService(opts.client);
    this.diff = new DiffService(opts.client);
    this.images = new ImagesService(opts.client);
    this.leases = new LeasesService(opts.client);
    this.concurrency = Math.max(1, opts.concurrency ?? 3);
    this.leaseMs = opts.leaseMs ?? 60 * 60_000;
  }

  /** Pulls `ref`; a pull of the same image and platform already running is joined. */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    const name = formatReference(parseReference(ref));
    const platform = opts.platform ?? hostPlatform();
    const key = `${name} ${formatPlatform(platform)}`;
    let flight = this.flights.get(key);
    if (!flight) {
      const listeners = new Set<(p: PullProgress) => void>();
      const f: Flight = {
        listeners,
        promise: this.run(name, platform, (p) => {
          f.last = p;
          for (const l of listeners) l(p);
        }).finally(() => this.flights.delete(key)),
      };
      this.flights.set(key, f);
      flight = f;
    }
    const { onProgress } = opts;
    if (!onProgress) return flight.promise;
    flight.listeners.add(onProgress);
    if (flight.last) onProgress(flight.last);
    try {
      return await flight.promise;
    } finally {
      flight.listeners.delete(onProgress);
    }
  }

  private async run(name: string, platform: Platform, report: (p: PullProgress) => void): Promise<PullResult> {
    const began = Date.now();
    const log = this.opts.log.child({ image: name });
    const ref = parseReference(name);
    const repo = this.opts.registry.repository(ref);
    const lease = await this.lease(name, platform);
    let done = 0;
    let total = 0;
    let fetched = 0;
    let lastLog = 0;
    const progress = (n: number, network: boolean): void => {
      done += n;
      if (network) fetched += n;
      report({ image: name, done, total });
      if (Date.now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = Date.now();
        log.info({ done, total }, 'pull progress');
      }
    };
    log.info({ platform: formatPlatform(platform) }, 'pulling image');
    report({ image: name, done: 0, total: 0 });

    const abort = new AbortController();
    const blobs = new ContentBlobStore(this.content, lease);
    const ctx = (onBytes?: (n: number, fetched: boolean) => void): BlobContext => ({
      blobs,
      signal: abort.signal,
      onBytes,
      onResume: (digest, offset) => log.info({ digest, offset }, 'resuming blob'),
    });

    const r = await resolve(repo, ref, name, platform);
    const { manifest } = r;
    total = [manifest.config, ...manifest.layers].reduce((sum, d) => sum + d.size, 0);
    progress(0, false);

    // Layers start at once; the config (for their diff IDs) comes meanwhile.
    const limit = limiter(this.concurrency);
    const fetches = manifest.layers.map((layer) =>
      limit(async () => {
        abort.signal.throwIfAborted();
        await fetchBlob(ctx(progress), repo, layer);
      }),
    );
    // The first failure stops the other fetches at once (each keeps what it wrote).
    for (const p of fetches) p.catch((err: unknown) => abort.abort(err));
    let chainId: string;
    try {
      const local = await blobs.read(manifest.config);
      const configData = local ?? (await this.fetchSmall(repo, manifest.config, abort.signal));
      verifyBytes(manifest.config, configData);
      const diffIds = parseDiffIds(configData, `config ${manifest.config.digest}`, manifest.layers.length);
      await putBlob(ctx(), manifest.config, configData);
      progress(manifest.config.size, local === undefined);
      chainId = await this.unpack(manifest, diffIds, fetches, this.unpackContext(lease, abort.signal), log);
    } catch (err) {
      abort.abort(err);
      await Promise.allSettled(fetches);
      // The root cause, not the cancellations it caused.
      throw abort.signal.reason ?? err;
    }
    // Each parent names what it references, for containerd's GC (all under the lease yet).
    await Promise.all([
      markUnpacked(this.unpackContext(lease, abort.signal), manifest.config, chainId),
      putBlob(ctx(), r.manifestDesc, r.manifestData, manifestLabels(manifest)),
      r.index ? putBlob(ctx(), r.target, r.targetData, indexLabels(r.index.entries)) : undefined,
    ]);
    await this.record(name, r.target, lease);
    await this.leases.delete(lease).catch((err: unknown) => log.warn({ err: String(err), lease }, 'lease not deleted; it expires by itself'));
    const result: PullResult = { name, digest: r.target.digest, manifestDigest: r.manifestDesc.digest, chainId, size: total, fetched, ms: Date.now() - began };
    log.info({ digest: r.target.digest, size: total, fetched, ms: result.ms }, 'image pulled');
    return result;
  }

  /** Unpacks the layers in order, each once its fetch is done; the top chain ID. */
  private async unpack(manifest: ImageManifest, diffIds: string[], fetches: Promise<void>[], ctx: UnpackContext, log: Logger): Promise<string> {
    const chain = chainIds(diffIds);
    let parent = '';
    for (let i = 0; i < manifest.layers.length; i++) {
      await fetches[i];
      const chainId = chain[i];
      if (await unpackLayer(ctx, manifest.layers[i], diffIds[i], parent, chainId)) log.debug({ layer: manifest.layers[i].digest, chainId }, 'layer unpacked');
      parent = chainId;
    }
    return parent;
  }

  private unpackContext(lease: string, signal: AbortSignal): UnpackContext {
    return {
      snapshots: this.snapshots,
      diff: this.diff,
      content: this.content,
      snapshotter: this.opts.snapshotter,
      lease,
      signal,
      onLeak: (err: unknown, key: string) => this.opts.log.warn({ err: String(err), key }, 'extraction snapshot not removed'),
    };
  }

  private async fetchSmall(repo: Repository, desc: Descriptor, signal: AbortSignal): Promise<Buffer> {
    const body = await repo.blob(desc, 0, signal);
    const parts: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body.chunks) {
        size += chunk.length;
        if (size > desc.size) throw new DigestMismatchError(`blob ${desc.digest}: registry sent more than its ${desc.size} bytes`);
        parts.push(Buffer.from(chunk));
      }
    } finally {
      body.cancel();
    }
    return Buffer.concat(parts, size);
  }

  /** The pull's lease: the same ID for the same image, so a retry finds its partial blobs. */
  private async lease(name: string, platform: Platform): Promise<string> {
    const id = `converge-pull-${createHash('sha256').update(`${name} ${formatPlatform(platform)}`).digest('hex').slice(0, 16)}`;
    try {
      await this.leases.create(id, this.leaseMs, { 'converge.dev/image': name.slice(0, 200) });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    return id;
  }

  private async record(name: string, target: Descriptor, lease: string): Promise<void> {
    try {
      await this.images.create({ name, target }, { lease });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.images.updateTarget(name, target, { lease });
    }
  }
}

/** Runs at most `n` of the given tasks at once, in the order they were given. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  const next = (): void => {
    if (running >= n) return;
    const start = queue.shift();
    if (start) start();
  };
  return (task) =>
    new Promise((resolve, reject) => {
      queue.push(() => {
        running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}
