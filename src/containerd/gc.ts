// Images for auto-update: a container that follows its tag is created from a record of its
// own digest ("host/app@sha256:..."), so that the tag moving on at the registry, or a pull,
// never changes what it runs, and the digest it replaced stays there for a rollback. And
// the collection of images no container uses any more: converge deletes the image records
// it made; containerd's garbage collector then removes their content and snapshots (what
// a container's snapshot still builds on, or a pull's lease holds, it keeps).

import type { Logger } from 'pino';
import { normalizeReference, pinnedReference } from '../spec/reference.js';
import type { ContainersService } from './containers.js';
import { isAlreadyExists, isNotFound } from './errors.js';
import type { ImagesService } from './images.js';
import { LABEL_IMAGE_REF, LABEL_PREVIOUS_DIGEST, LABEL_PULLED } from './labels.js';

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
   * Deletes the image records converge made (pulled or pinned) that no container uses, no
   * container keeps as its rollback target and `keep` (the references the specs name) does
   * not name. Returns the names deleted.
   */
  async collect(keep: readonly string[]): Promise<string[]> {
    const [images, containers] = await Promise.all([this.images.list(), this.containers.list()]);
    const used = new Set(keep.map(normal));
    for (const c of containers) {
      used.add(c.image);
      const ref = c.labels[LABEL_IMAGE_REF];
      const previous = c.labels[LABEL_PREVIOUS_DIGEST];
      if (ref && previous) {
        try {
          used.add(pinnedReference(ref, previous));
        } catch {
          // a label that is not a digest pins nothing
        }
      }
    }
    const removed: string[] = [];
    for (const image of images) {
      if (image.labels[LABEL_PULLED] !== 'true' || used.has(image.name)) continue;
      try {
        await this.images.delete(image.name);
        removed.push(image.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (removed.length > 0) this.log.info({ images: removed }, 'images no container uses deleted');
    return removed;
  }
}
