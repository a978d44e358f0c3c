// The bounds a pull keeps to whatever a registry says, so that an image named by someone
// else's spec cannot exhaust converge's memory, the node's disk or a worker's time: the
// size of a manifest (registry.ts reads it only that far), of the config (read into memory,
// so checked against its descriptor before a byte is fetched), the number of layers, the
// image's total bytes, free room on the disk the pull writes to, and an overall deadline.
// Everything here is checked before the first blob is written, so a refused image leaves
// nothing in the store.

import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { ImageTooLargeError, InsufficientDiskError } from './errors.js';
import type { ImageManifest } from './manifest.js';
import { MAX_MANIFEST_BYTES } from './registry.js';

export interface PullLimits {
  /** A manifest or index (--max-manifest-size). */
  manifestBytes: number;
  /** The image config, which is held in memory (--max-config-size). */
  configBytes: number;
  /** Layers of one image (--max-layers). */
  layers: number;
  /** Config and layers together, as the manifest declares them (--max-image-size). */
  imageBytes: number;
  /** One whole pull, from the first request to the image record (--pull-timeout). */
  timeoutMs: number;
  /** Room left on the disk after the pull's estimate (--min-free-disk). */
  minFreeDiskBytes: number;
}

export const DEFAULT_PULL_LIMITS: PullLimits = {
  manifestBytes: MAX_MANIFEST_BYTES,
  configBytes: 8 << 20,
  // overlayfs stacks at most about 128 lower layers on a page-sized mount option; docker's bound too.
  layers: 128,
  imageBytes: 16 * 2 ** 30,
  timeoutMs: 30 * 60_000,
  minFreeDiskBytes: 2 ** 30,
};

/**
 * A layer unpacks to more than it weighs compressed; the disk check counts each blob this
 * many times over (itself once, and twice for its unpacked files).
 */
export const DISK_FACTOR = 3;

/** Refuses an image whose manifest declares more than the limits allow. */
export function checkImage(name: string, manifest: ImageManifest, limits: PullLimits): void {
  const { config, layers } = manifest;
  if (config.size > limits.configBytes) {
    throw new ImageTooLargeError(`${name}: config ${config.digest} is ${config.size} bytes, over the ${limits.configBytes} allowed (--max-config-size)`);
  }
  if (layers.length > limits.layers) {
    throw new ImageTooLargeError(`${name}: ${layers.length} layers, over the ${limits.layers} allowed (--max-layers)`);
  }
  const total = layers.reduce((sum, l) => sum + l.size, config.size);
  if (total > limits.imageBytes) {
    throw new ImageTooLargeError(`${name}: ${total} bytes in config and layers, over the ${limits.imageBytes} allowed (--max-image-size)`);
  }
}

/** Bytes available to an unprivileged writer on the filesystem of `dir` (or of its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number> {
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    try {
      const s = await statfs(p);
      return s.bavail * s.bsize;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || p === path.dirname(p)) throw err;
    }
  }
}

export interface DiskCheck {
  /** The path whose filesystem is checked (--pull-disk-path; the state dir by default). */
  path: string;
  /** Instead of statfs (tests). */
  free?: (dir: string) => Promise<number>;
}

/**
 * Refuses a pull that would leave less than `minFreeDiskBytes` free: `missing` is what the
 * store does not hold yet, counted DISK_FACTOR times over. Nothing to fetch, nothing to check.
 */
export async function checkDisk(name: string, missing: number, disk: DiskCheck, limits: PullLimits): Promise<void> {
  if (missing === 0) return;
  const free = await (disk.free ?? freeBytes)(disk.path);
  const needed = missing * DISK_FACTOR + limits.minFreeDiskBytes;
  if (free < needed) {
    throw new InsufficientDiskError(
      `${name}: ${missing} bytes to fetch need about ${missing * DISK_FACTOR} on disk and ${limits.minFreeDiskBytes} kept free (--min-free-disk), but ${disk.path} has ${free} free`,
    );
  }
}

/**
 * Refuses to go on once less than `minFreeDiskBytes` is free: checked before each layer is
 * unpacked, since unpacked sizes are known only to containerd's Diff service, and a layer
 * that unpacks to far more than its estimate must not take the next one with it.
 */
export async function checkReserve(what: string, disk: DiskCheck, limits: PullLimits): Promise<void> {
  const free = await (disk.free ?? freeBytes)(disk.path);
  if (free < limits.minFreeDiskBytes) {
    throw new InsufficientDiskError(`${what}: unpacking left ${disk.path} with ${free} bytes free, under the ${limits.minFreeDiskBytes} kept free (--min-free-disk)`);
  }
}
