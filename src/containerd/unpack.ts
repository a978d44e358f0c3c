// Unpacks an image's layers into the snapshotter as containerd's unpacker does: for each
// layer, an active snapshot on the previous layer's chain ID, the layer applied onto it by
// the Diff service (which reports the uncompressed digest, checked against the config's
// diff ID), committed under the layer's chain ID; then the labels that let containerd's
// garbage collector see the snapshots through the image.

import { randomBytes } from 'node:crypto';
import type { Descriptor } from '../pull/descriptor.js';
import { DigestMismatchError } from '../pull/errors.js';
import type { ContentService } from './content.js';
import type { DiffService } from './diff.js';
import { isAlreadyExists, isNotFound } from './errors.js';
import type { SnapshotsService } from './snapshots.js';

export const LABEL_SNAPSHOT_REF = 'containerd.io/snapshot.ref';
export const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';
export const labelSnapshotGc = (snapshotter: string): string => `containerd.io/gc.ref.snapshot.${snapshotter}`;

/** Applying a big layer takes a while; this bounds a hung one. */
const APPLY_TIMEOUT_MS = 10 * 60_000;

export interface UnpackContext {
  snapshots: SnapshotsService;
  diff: DiffService;
  content: ContentService;
  snapshotter: string;
  lease: string;
  signal?: AbortSignal;
  onLeak?: (err: unknown, key: string) => void;
}

async function exists(ctx: UnpackContext, chainId: string): Promise<boolean> {
  try {
    await ctx.snapshots.stat(ctx.snapshotter, chainId, { signal: ctx.signal });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Unpacks one layer as snapshot `chainId` on `parent` ("" for the first). A snapshot that
 * exists already (another image shares the layer) is kept as it is.
 */
export async function unpackLayer(ctx: UnpackContext, layer: Descriptor, diffId: string, parent: string, chainId: string): Promise<boolean> {
  if (await exists(ctx, chainId)) return false;
  const opts = { lease: ctx.lease, signal: ctx.signal };
  const labels = { [LABEL_SNAPSHOT_REF]: chainId };
  // containerd's key format for an extraction; the random part keeps two unpacks apart.
  const key = `extract-${randomBytes(6).toString('hex')} ${chainId}`;
  let mounts;
  try {
    mounts = await ctx.snapshots.prepare(ctx.snapshotter, key, parent, labels, opts);
  } catch (err) {
    if (isAlreadyExists(err) && (await exists(ctx, chainId))) return false;
    throw err;
  }
  const discard = (): Promise<void> => ctx.snapshots.remove(ctx.snapshotter, key).catch((err: unknown) => ctx.onLeak?.(err, key));
  try {
    const applied = await ctx.diff.apply(layer, mounts, { ...opts, timeoutMs: APPLY_TIMEOUT_MS });
    if (applied.digest !== diffId) {
      throw new DigestMismatchError(`layer ${layer.digest} unpacks to ${applied.digest}, but the image config says ${diffId}; refused`);
    }
    await ctx.snapshots.commit(ctx.snapshotter, chainId, key, labels, opts);
  } catch (err) {
    await discard();
    if (isAlreadyExists(err)) return false; // another unpack of the same layer won the race
    throw err;
  }
  // Lets `ctr` and containerd's own unpacker know the uncompressed digest without reading.
  await ctx.content.setLabels(layer.digest, { [LABEL_UNCOMPRESSED]: diffId }, opts);
  return true;
}

/** The config blob references the top snapshot, so the image keeps its layers from GC. */
export async function markUnpacked(ctx: UnpackContext, config: Descriptor, chainId: string): Promise<void> {
  await ctx.content.setLabels(config.digest, { [labelSnapshotGc(ctx.snapshotter)]: chainId }, { lease: ctx.lease, signal: ctx.signal });
}
