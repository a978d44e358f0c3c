// Pulls an image into an ImageStore (containerd's, in practice; containerd does not pull
// for its clients): resolve the reference at the registry, fetch index, manifest and
// config, fetch the layers in parallel (bounded) while the store unpacks them in order,
// then have the store record the image. Everything is written under the store's hold for
// this pull, so a failed pull's next try resumes the interrupted blobs. Two callers of the
// same image share one pull. What the registry declares is held to limits.ts's bounds
// before anything is written, and the whole pull to a deadline.

import type { Logger } from 'pino';
import { type BlobContext, fetchBlob, putBlob } from './blob.js';
import { type Descriptor, chainIds, verifyBytes } from './descriptor.js';
import { DigestMismatchError, PullTimeoutError } from './errors.js';
import { type DiskCheck, type PullLimits, DEFAULT_PULL_LIMITS, checkDisk, checkImage, checkReserve } from './limits.js';
import { type ImageManifest, parseDiffIds } from './manifest.js';
import { type Platform, formatPlatform, hostPlatform } from './platform.js';
import { formatReference, parseReference } from '../spec/reference.js';
import type { RegistryClient, Repository } from './registry.js';
import { resolve } from './resolve.js';
import type { ImagePull, ImageStore } from './store.js';

/** Bytes of the image's blobs fetched or found in the store (`done`) and in all (`total`, 0 until the manifest is read). */
export interface PullProgress {
  image: string;
  done: number;
  total: number;
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
  /** Where images go. */
  store: ImageStore;
  registry: RegistryClient;
  log: Logger;
  /** Layers fetched at once (docker's default is 3). */
  concurrency?: number;
  /** Bounds on what a registry may make a pull do; DEFAULT_PULL_LIMITS where not given. */
  limits?: Partial<PullLimits>;
  /** Where the free-disk check looks (the state dir, in practice); the working directory when absent. */
  disk?: DiskCheck;
}

/** One pull's parts, as the fetch-and-unpack step needs them. */
interface Job {
  repo: Repository;
  dest: ImagePull;
  manifest: ImageManifest;
  /** Throws when the disk's reserve is gone. */
  reserve: () => Promise<void>;
}

interface Flight {
  promise: Promise<PullResult>;
  listeners: Set<(p: PullProgress) => void>;
  seen: { last?: PullProgress };
}

const PROGRESS_LOG_MS = 1_000;

export class Puller {
  private readonly flights = new Map<string, Flight>();
  private readonly concurrency: number;
  private readonly limits: PullLimits;

  constructor(private readonly opts: PullerOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? 3);
    this.limits = { ...DEFAULT_PULL_LIMITS, ...opts.limits };
  }

  /** Pulls `ref`; a pull of the same image and platform already running is joined. */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    const name = formatReference(parseReference(ref));
    const platform = opts.platform ?? hostPlatform();
    const key = `${name} ${formatPlatform(platform)}`;
    let flight = this.flights.get(key);
    if (!flight) {
      // run() reports from its first line on: what it reports to exists before it is called.
      const listeners = new Set<(p: PullProgress) => void>();
      const seen: { last?: PullProgress } = {};
      const promise = this.run(name, platform, (p) => {
        seen.last = p;
        for (const l of listeners) l(p);
      }).finally(() => this.flights.delete(key));
      flight = { promise, listeners, seen };
      this.flights.set(key, flight);
    }
    const { onProgress } = opts;
    if (!onProgress) return flight.promise;
    flight.listeners.add(onProgress);
    if (flight.seen.last) onProgress(flight.seen.last);
    try {
      return await flight.promise;
    } finally {
      flight.listeners.delete(onProgress);
    }
  }

  /** The digest `ref`'s tag names at its registry now (one HEAD of the manifest; nothing fetched). */
  async latestDigest(ref: string, signal?: AbortSignal): Promise<string> {
    const parsed = parseReference(ref);
    if (parsed.digest) return parsed.digest;
    return this.opts.registry.repository(parsed).digest(parsed.tag ?? 'latest', signal);
  }

  private async run(name: string, platform: Platform, report: (p: PullProgress) => void): Promise<PullResult> {
    const began = Date.now();
    const log = this.opts.log.child({ image: name });
    const abort = new AbortController();
    const { timeoutMs } = this.limits;
    const deadline = setTimeout(() => abort.abort(new PullTimeoutError(`${name}: not pulled within ${timeoutMs} ms (--pull-timeout); what arrived is kept for the next try`)), timeoutMs);
    try {
      log.info({ platform: formatPlatform(platform) }, 'pulling image');
      report({ image: name, done: 0, total: 0 });
      const repo = this.opts.registry.repository(parseReference(name));
      const r = await resolve(repo, repo.ref, name, platform, abort.signal);
      // Before anything is written: a refused image leaves nothing behind.
      checkImage(name, r.manifest, this.limits);
      const dest = await this.opts.store.begin(name, platform);
      const disk = this.opts.disk ?? { path: '.' };
      const missing = await missingBytes(dest, r.manifest);
      await checkDisk(name, missing, disk, this.limits);
      // A layer may unpack to far more than it weighs: before each, the reserve must still be
      // there (unless nothing is new, so an image already here pulls again on a full disk).
      const reserve = missing > 0 ? () => checkReserve(name, disk, this.limits) : async () => undefined;
      const progress = new Progress(name, r.manifest, report, log);
      const chainId = await this.fetchAndUnpack({ repo, dest, manifest: r.manifest, reserve }, progress, abort, log);
      await dest.finish(name, r, chainId);
      const result: PullResult = { name, digest: r.target.digest, manifestDigest: r.manifestDesc.digest, chainId, size: progress.total, fetched: progress.fetched, ms: Date.now() - began };
      log.info({ digest: r.target.digest, size: result.size, fetched: result.fetched, ms: result.ms }, 'image pulled');
      return result;
    } catch (err) {
      // The root cause (the first failure, or the deadline), not the cancellations it caused.
      throw abort.signal.aborted ? abort.signal.reason : err;
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Fetches the layers in parallel (bounded) and the config meanwhile; unpacks in order; the top chain ID. */
  private async fetchAndUnpack(job: Job, progress: Progress, abort: AbortController, log: Logger): Promise<string> {
    const { repo, dest, manifest } = job;
    const ctx = (onBytes?: (n: number, fetched: boolean) => void): BlobContext => ({
      blobs: dest.blobs,
      signal: abort.signal,
      onBytes,
      onResume: (digest, offset) => log.info({ digest, offset }, 'resuming blob'),
    });
    const onBytes = (n: number, network: boolean): void => progress.add(n, network);
    // Layers start at once; the config (for their diff IDs) comes meanwhile.
    const limit = limiter(this.concurrency);
    const fetches = manifest.layers.map((layer) =>
      limit(async () => {
        abort.signal.throwIfAborted();
        await fetchBlob(ctx(onBytes), repo, layer);
      }),
    );
    // The first failure stops the other fetches at once (each keeps what it wrote).
    for (const p of fetches) p.catch((err: unknown) => abort.abort(err));
    try {
      const local = await dest.blobs.read(manifest.config);
      const configData = local ?? (await this.fetchSmall(repo, manifest.config, abort.signal));
      verifyBytes(manifest.config, configData);
      const diffIds = parseDiffIds(configData, `config ${manifest.config.digest}`, manifest.layers.length);
      await putBlob(ctx(), manifest.config, configData);
      progress.add(manifest.config.size, local === undefined);
      return await unpack(dest, manifest, diffIds, fetches, abort.signal, log, job.reserve);
    } catch (err) {
      abort.abort(err);
      await Promise.allSettled(fetches);
      throw abort.signal.reason ?? err;
    }
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
}

/** Has the store unpack the layers in order, each once its fetch is done; the top chain ID. */
async function unpack(dest: ImagePull, manifest: ImageManifest, diffIds: string[], fetches: Promise<void>[], signal: AbortSignal, log: Logger, reserve: () => Promise<void>): Promise<string> {
  const chain = chainIds(diffIds);
  let parent = '';
  for (let i = 0; i < manifest.layers.length; i++) {
    await fetches[i];
    await reserve();
    const chainId = chain[i];
    if (await dest.unpack(manifest.layers[i], diffIds[i], parent, chainId, signal)) log.debug({ layer: manifest.layers[i].digest, chainId }, 'layer unpacked');
    parent = chainId;
  }
  return parent;
}

/** What the store lacks of the image's blobs (all of them, when the store cannot tell). */
async function missingBytes(dest: ImagePull, manifest: ImageManifest): Promise<number> {
  let missing = 0;
  for (const d of [manifest.config, ...manifest.layers]) if (!(await dest.blobs.has?.(d))) missing += d.size;
  return missing;
}

/** Bytes done of the image's blobs, reported on each change and logged at most once a second. */
class Progress {
  readonly total: number;
  done = 0;
  fetched = 0;
  private lastLog = 0;

  constructor(
    private readonly image: string,
    manifest: ImageManifest,
    private readonly report: (p: PullProgress) => void,
    private readonly log: Logger,
  ) {
    this.total = [manifest.config, ...manifest.layers].reduce((sum, d) => sum + d.size, 0);
    this.add(0, false);
  }

  add(n: number, network: boolean): void {
    this.done += n;
    if (network) this.fetched += n;
    this.report({ image: this.image, done: this.done, total: this.total });
    if (Date.now() - this.lastLog >= PROGRESS_LOG_MS) {
      this.lastLog = Date.now();
      this.log.info({ done: this.done, total: this.total }, 'pull progress');
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
