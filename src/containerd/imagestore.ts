// pull's ImageStore over containerd, as containerd's own client stores a pull (containerd
// does not pull for its clients): everything a pull writes is held by one lease, named
// after the image and platform, so the garbage collector leaves half-pulled content alone
// and a retry finds it; layers are unpacked into the snapshotter; the image's documents
// carry containerd's GC references to what they name, and the image record points at the
// target. A failed pull keeps its lease (it expires by itself).

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { putBlob } from '../pull/blob.js';
import type { Descriptor } from '../pull/descriptor.js';
import type { ImageManifest } from '../pull/manifest.js';
import { type Platform, formatPlatform } from '../pull/platform.js';
import type { Resolved } from '../pull/resolve.js';
import type { ImagePull, ImageStore } from '../pull/store.js';
import { ContentBlobStore } from './blobstore.js';
import type { ContainerdClient } from './client.js';
import { ContentService } from './content.js';
import { DiffService } from './diff.js';
import { isAlreadyExists } from './errors.js';
import { ImagesService } from './images.js';
import { LABEL_PULLED } from './labels.js';
import { LeasesService } from './leases.js';
import { SnapshotsService } from './snapshots.js';
import { type UnpackContext, markUnpacked, unpackLayer } from './unpack.js';

export interface ContainerdImageStoreOptions {
  client: ContainerdClient;
  snapshotter: string;
  log: Logger;
  /** A pull's lease expires by itself after this (default 1 h). */
  leaseMs?: number;
}

/** containerd's GC references from an index to the manifests that were fetched. */
export function indexLabels(children: readonly Descriptor[]): Record<string, string> {
  return Object.fromEntries(children.map((c, i) => [`containerd.io/gc.ref.content.m.${i}`, c.digest]));
}

/** containerd's GC references from a manifest to its config and layers. */
export function manifestLabels(m: ImageManifest): Record<string, string> {
  const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': m.config.digest };
  m.layers.forEach((l, i) => (labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
  return labels;
}

export class ContainerdImageStore implements ImageStore {
  private readonly content: ContentService;
  private readonly snapshots: SnapshotsService;
  private readonly diff: DiffService;
  private readonly images: ImagesService;
  private readonly leases: LeasesService;
  private readonly leaseMs: number;

  constructor(private readonly opts: ContainerdImageStoreOptions) {
    this.content = new ContentService(opts.client);
    this.snapshots = new SnapshotsService(opts.client);
    this.diff = new DiffService(opts.client);
    this.images = new ImagesService(opts.client);
    this.leases = new LeasesService(opts.client);
    this.leaseMs = opts.leaseMs ?? 60 * 60_000;
  }

  async begin(name: string, platform: Platform): Promise<ImagePull> {
    const lease = await this.lease(name, platform);
    const blobs = new ContentBlobStore(this.content, lease);
    return {
      blobs,
      unpack: (layer, diffId, parent, chainId, signal) => unpackLayer(this.unpackContext(lease, signal), layer, diffId, parent, chainId),
      finish: (name, image, chainId) => this.finish(lease, blobs, name, image, chainId),
    };
  }

  private async finish(lease: string, blobs: ContentBlobStore, name: string, r: Resolved, chainId: string): Promise<void> {
    // Each parent names what it references, for containerd's GC (all under the lease yet).
    await Promise.all([
      markUnpacked(this.unpackContext(lease), r.manifest.config, chainId),
      putBlob({ blobs }, r.manifestDesc, r.manifestData, manifestLabels(r.manifest)),
      r.index ? putBlob({ blobs }, r.target, r.targetData, indexLabels(r.index.entries)) : undefined,
    ]);
    await this.record(name, r.target, lease);
    await this.leases.delete(lease).catch((err: unknown) => this.opts.log.warn({ err, image: name, lease }, 'lease not deleted; it expires by itself'));
  }

  private unpackContext(lease: string, signal?: AbortSignal): UnpackContext {
    return {
      snapshots: this.snapshots,
      diff: this.diff,
      content: this.content,
      snapshotter: this.opts.snapshotter,
      lease,
      signal,
      onLeak: (err: unknown, key: string) => this.opts.log.warn({ err, key }, 'extraction snapshot not removed'),
    };
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
      // The label marks what converge pulled: only those images are ever collected (gc.ts).
      await this.images.create({ name, target, labels: { [LABEL_PULLED]: 'true' } }, { lease });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.images.updateTarget(name, target, { lease });
    }
  }
}
