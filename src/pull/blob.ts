// Puts one blob into a pull's BlobStore: checked against its descriptor's size and digest,
// resumed from where an earlier, interrupted write of it stopped, and never committed when
// it does not hash right.

import { type Descriptor, verifyBytes } from './descriptor.js';
import { DigestMismatchError, RegistryError } from './errors.js';
import type { Repository } from './registry.js';
import type { BlobStore } from './store.js';

export interface BlobContext {
  blobs: BlobStore;
  signal?: AbortSignal;
  /** Bytes of this blob that arrived (`fetched`) or were found in the store. */
  onBytes?: (n: number, fetched: boolean) => void;
  /** A resumed write: where it picked up. */
  onResume?: (digest: string, offset: number) => void;
}

/** Flush to the store at this size, or sooner when data trickles in (so a cut keeps it). */
const WRITE_CHUNK = 1 << 20;
const FLUSH_MS = 200;

/** A small blob already in memory (manifest, index, config): verified here, then stored. */
export async function putBlob(ctx: BlobContext, desc: Descriptor, data: Buffer, labels: Record<string, string> = {}): Promise<void> {
  verifyBytes(desc, data);
  const writer = await ctx.blobs.writer(desc, labels, ctx.signal);
  if (!writer) return;
  try {
    await writer.commit(data);
  } finally {
    writer.close();
  }
}

/** A layer: streamed from the registry into the store, resuming a partial write. */
export async function fetchBlob(ctx: BlobContext, repo: Repository, desc: Descriptor, labels: Record<string, string> = {}): Promise<void> {
  const writer = await ctx.blobs.writer(desc, labels, ctx.signal);
  if (!writer) {
    ctx.onBytes?.(desc.size, false);
    return;
  }
  try {
    if (writer.offset > desc.size) await writer.write(Buffer.alloc(0), 0);
    if (writer.offset < desc.size) {
      const body = await repo.blob(desc, writer.offset, ctx.signal);
      if (writer.offset > 0 && body.offset === writer.offset) ctx.onResume?.(desc.digest, writer.offset);
      ctx.onBytes?.(body.offset, false);
      let offset = body.offset;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let lastFlush = Date.now();
      const flush = async (): Promise<void> => {
        const data = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        lastFlush = Date.now();
        // The first write at the registry's offset: 0 starts a stale write over.
        await writer.write(data, offset - data.length);
      };
      try {
        for await (const chunk of body.chunks) {
          offset += chunk.length;
          if (offset > desc.size) throw new RegistryError(`blob ${desc.digest}: registry sent more than its ${desc.size} bytes`);
          pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
          pendingBytes += chunk.length;
          ctx.onBytes?.(chunk.length, true);
          if (pendingBytes >= WRITE_CHUNK || Date.now() - lastFlush >= FLUSH_MS) await flush();
        }
      } finally {
        // What arrived before a cut is kept: the next try resumes after it.
        if (pendingBytes > 0) await flush().catch(() => undefined);
        body.cancel();
      }
      if (offset < desc.size) throw new RegistryError(`blob ${desc.digest}: registry sent ${offset} of its ${desc.size} bytes`);
    } else {
      if (writer.offset > 0) ctx.onResume?.(desc.digest, writer.offset);
      ctx.onBytes?.(desc.size, false);
    }
    if (writer.digest !== desc.digest) {
      await writer.discard().catch(() => undefined);
      throw new DigestMismatchError(`blob ${desc.digest} from ${repo.host}/${repo.ref.path}: content hashes to ${writer.digest}; refused`);
    }
    await writer.commit();
  } finally {
    writer.close();
  }
}
