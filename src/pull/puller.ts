// Pulls an image into an ImageStore (containerd's, in practice; containerd does not pull
// for its clients): resolve the reference at the registry, fetch index, manifest and
// config, fetch the layers in parallel (bounded) while the store unpacks them in order,
// then have the store record the image. Everything is written under the store's hold for
// this pull, so a failed pull's next try resumes the interrupted blobs. Two callers of the
// same image share one pull.

import type { Logger } from 'pino';
import { type BlobContext, fetchBlob, putBlob } from './blob.js';
import { type Descriptor, chainIds, verifyBytes } from './descriptor.js';
import { DigestMismatchError } from './errors.js';
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
}

interface Flight {
  promise: Promise<PullResult>;
  listeners: Set<(p: PullProgress) => void>;
  last?: PullProgress;
}

const PROGRESS_LOG_MS = 1_000;

export class Puller {
  private readonly flights = new Map<string, Flight>();
  private readonly concurrency: number;

  constructor(private readonly opts: PullerOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? 3);
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

  /** The digest `ref`'s tag names at its registry now (one HEAD of the manifest; nothing fetched). */
  async latestDigest(ref: string, signal?: AbortSignal): Promise<string> {
    const parsed = parseReference(ref);
    if (parsed.digest) return parsed.digest;
    return this.opts.registry.repository(parsed).digest(parsed.tag ?? 'latest', signal);
  }

  private async run(name: string, platform: Platform, report: (p: PullProgress) => void): Promise<PullResult> {
    const began = Date.now();
    const log = this.opts.log.child({ image: name });
    const ref = parseReference(name);
    const repo = this.opts.registry.repository(ref);
    const dest = await this.opts.store.begin(name, platform);
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
    const ctx = (onBytes?: (n: number, fetched: boolean) => void): BlobContext => ({
      blobs: dest.blobs,
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
      const local = await dest.blobs.read(manifest.config);
      const configData = local ?? (await this.fetchSmall(repo, manifest.config, abort.signal));
      verifyBytes(manifest.config, configData);
      const diffIds = parseDiffIds(configData, `config ${manifest.config.digest}`, manifest.layers.length);
      await putBlob(ctx(), manifest.config, configData);
      progress(manifest.config.size, local === undefined);
      chainId = await unpack(dest, manifest, diffIds, fetches, abort.signal, log);
    } catch (err) {
      abort.abort(err);
      await Promise.allSettled(fetches);
      // The root cause, not the cancellations it caused.
      throw abort.signal.reason ?? err;
    }
    await dest.finish(name, r, chainId);
    const result: PullResult = { name, digest: r.target.digest, manifestDigest: r.manifestDesc.digest, chainId, size: total, fetched, ms: Date.now() - began };
    log.info({ digest: r.target.digest, size: total, fetched, ms: result.ms }, 'image pulled');
    return result;
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
async function unpack(dest: ImagePull, manifest: ImageManifest, diffIds: string[], fetches: Promise<void>[], signal: AbortSignal, log: Logger): Promise<string> {
  const chain = chainIds(diffIds);
  let parent = '';
  for (let i = 0; i < manifest.layers.length; i++) {
    await fetches[i];
    const chainId = chain[i];
    if (await dest.unpack(manifest.layers[i], diffIds[i], parent, chainId, signal)) log.debug({ layer: manifest.layers[i].digest, chainId }, 'layer unpacked');
    parent = chainId;
  }
  return parent;
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
