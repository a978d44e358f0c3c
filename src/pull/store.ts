// What a pull needs of the place images go. pull/ owns these interfaces so that it knows
// no store of its own: containerd/ implements them over its content store (and, for a
// whole image, its leases, snapshotter and image records).

import type { Descriptor } from './descriptor.js';
import type { Platform } from './platform.js';
import type { Resolved } from './resolve.js';

/** Where pulled images go. */
export interface ImageStore {
  /**
   * Starts the pull of image `name` for `platform`: what it writes is held for it until it
   * finishes. The same image and platform get the same hold, so the next try of a pull
   * that failed (whose hold lasts a while yet) finds what the failed one wrote.
   */
  begin(name: string, platform: Platform): Promise<ImagePull>;
}

/** One pull's way into the store. */
export interface ImagePull {
  readonly blobs: BlobStore;
  /**
   * Unpacks `layer` (stored already) as chain ID `chainId` on `parent` ('' for the first
   * layer), refusing it when it does not unpack to `diffId`. False when the store had that
   * chain unpacked already (another image shares it).
   */
  unpack(layer: Descriptor, diffId: string, parent: string, chainId: string, signal: AbortSignal): Promise<boolean>;
  /**
   * Stores the image's manifest (and index), points image `name` at the resolved target so
   * that everything the pull wrote is kept through it, and lets go of the pull's hold.
   */
  finish(name: string, image: Resolved, chainId: string): Promise<void>;
}

/**
 * Where one pull's blobs go, by digest. What is written through it is held for that pull:
 * a write cut short is kept, so the next try of the pull resumes it.
 */
export interface BlobStore {
  /**
   * A writer for blob `desc`, resuming an earlier, interrupted write of it; undefined when
   * the store has the blob already (it then carries `labels` and is held for this pull).
   * Waits a while for another writer of the same blob (another pull of a shared layer).
   */
  writer(desc: Descriptor, labels: Record<string, string>, signal?: AbortSignal): Promise<BlobWriter | undefined>;
  /** A small blob (at most `desc.size` bytes) when the store has it already; else undefined. */
  read(desc: Descriptor): Promise<Buffer | undefined>;
  /** Whether the store holds the whole blob already (for the free-disk check; absent: it never does). */
  has?(desc: Descriptor): Promise<boolean>;
}

/** One blob being written: appended at offsets, then committed under its expected digest and size. */
export interface BlobWriter {
  /** How many bytes of the blob the store holds so far (non-zero when resuming). */
  readonly offset: number;
  /** The digest of those bytes. */
  readonly digest: string;
  /** Writes `data` at `offset`; offset 0 on a write that holds bytes already starts it over. */
  write(data: Buffer, offset: number): Promise<void>;
  /**
   * Commits what was written, or `whole` (the entire blob in one piece), with the writer's
   * labels; a blob that got there meanwhile is as good. Throws DigestMismatchError when the
   * store's own check of size and digest refuses it, and drops the write then.
   */
  commit(whole?: Buffer): Promise<void>;
  /** Drops what was written: bytes that hash wrong must not be resumed. */
  discard(): Promise<void>;
  /** Lets go of the write; what was written stays for a later writer of the blob. */
  close(): void;
}
