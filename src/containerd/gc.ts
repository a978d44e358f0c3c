// Images for auto-update: a container that follows its tag is created from a record of its
// own digest ("host/app@sha256:..."), so that the tag moving on at the registry, or a pull,
// never changes what it runs, and the digest it replaced stays there for a rollback (the
// updater names it among what to keep while it is the rollback target). And
// the collection of images no container uses any more: converge deletes the image records
// it made; containerd's garbage collector then removes their content and snapshots (what
// a container's snapshot still builds on, or a pull's lease holds, it keeps).

import type { Logger } from 'pino';
import { normalizeReference, pinnedReference } from '../spec/reference.js';
import type { ContainersService } from './containers.js';
import { isAlreadyExists, isNotFound } from './errors.js';
import type { ImagesService } from './images.js';
import { LABEL_PULLED } from './labels.js';

/** The name a reference has in containerd's image store, or the text itself when it does not parse. */
function normal(ref: string): string {
  try {
    return normalizeReference(ref);
  } catch {
    return ref;
  }
}

export class ImageKeeper {
  constructor(
    private readonly images: ImagesService,
    private readonly containers: ContainersService,
    private readonly log: Logger,
  ) {}

  /**
   * A record "repo@digest" with the target of record `from` (a tag just pulled, or imported);
   * made once, kept by name. Returns its name.
   */
  async pin(ref: string, from: string, digest: string): Promise<string> {
    const name = pinnedReference(ref, digest);
    if (name === from) return name;
    const source = await this.images.get(from);
    try {
      await this.images.create({ name, target: source.target, labels: { [LABEL_PULLED]: 'true' } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    return name;
  }

  /**
   * Deletes the image records converge made (pulled or pinned) that no container uses and
   * `keep` (the specs' references, the digests an update holds) does not name. Returns the
   * names deleted.
   */
  async collect(keep: readonly string[]): Promise<string[]> {
    const [images, containers] = await Promise.all([this.images.list(), this.containers.list()]);
    const used = new Set(keep.map(normal));
    for (const c of containers) used.add(c.image);
    const removed: string[] = [];
    for (const image of images) {
      if (image.labels[LABEL_PULLED] !== 'true' || used.has(image.name)) continue;
      try {
        // sync: the content and snapshots are gone when this returns, not at containerd's
        // next collection (which deletions alone do not start).
        await this.images.delete(image.name, { sync: true });
        removed.push(image.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (removed.length > 0) this.log.info({ images: removed }, 'images no container uses deleted');
    return removed;
  }
}
