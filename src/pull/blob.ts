// Puts one blob into containerd's content store through the Content service's Write
// stream: checked against its descriptor's size and digest, resumed from where an earlier,
// interrupted write of it stopped (the ingest ref is the digest, and the pull's lease keeps
// the ingest), and never committed when it does not hash right.

import { setTimeout as delay } from 'node:timers/promises';
import type { ContentService } from '../containerd/content.js';
import { isAlreadyExists, isFailedPrecondition, isUnavailable } from '../containerd/errors.js';
import { type Descriptor, verifyBytes } from './descriptor.js';
import { DigestMismatchError, RegistryError } from './errors.js';
import type { Repository } from './registry.js';

export interface BlobContext {
  content: ContentService;
  lease: string;
  signal?: AbortSignal;
  /** Bytes of this blob that arrived (`fetched`) or were found in the store. */
  onBytes?: (n: number, fetched: boolean) => void;
  /** A resumed write: where it picked up. */
  onResume?: (digest: string, offset: number) => void;
}

/** Flush to containerd at this size, or sooner when data trickles in (so a cut keeps it). */
const WRITE_CHUNK = 1 << 20;
const FLUSH_MS = 200;
/** Another writer (another pull of a shared layer) holds the ref: wait for it this long. */
const LOCKED_RETRIES = 20;
const LOCKED_WAIT_MS = 250;

export function ingestRef(digest: string): string {
  return `converge-pull-${digest}`;
}

/** Sets `labels` on a blob that is in the store already. */
async function label(ctx: BlobContext, desc: Descriptor, labels: Record<string, string>): Promise<void> {
  if (Object.keys(labels).length > 0) await ctx.content.setLabels(desc.digest, labels, { lease: ctx.lease, signal: ctx.signal });
}

/**
 * A writer for the blob, or undefined when the store has it already: containerd then adds
 * the blob to the lease (so the garbage collector keeps it until the image points at it)
 * and answers AlreadyExists.
 */
async function openWriter(ctx: BlobContext, desc: Descriptor) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.content.writer({ ref: ingestRef(desc.digest), expected: desc.digest, total: desc.size, lease: ctx.lease, signal: ctx.signal, timeoutMs: 60_000 });
    } catch (err) {
      if (isAlreadyExists(err)) return undefined;
      if (!isUnavailable(err) || attempt >= LOCKED_RETRIES) throw err;
      await delay(LOCKED_WAIT_MS, undefined, { signal: ctx.signal });
    }
  }
}

/** A small blob already in memory (manifest, index, config): verified here, then stored. */
export async function putBlob(ctx: BlobContext, desc: Descriptor, data: Buffer, labels: Record<string, string> = {}): Promise<void> {
  verifyBytes(desc, data);
  const writer = await openWriter(ctx, desc);
  if (!writer) {
    await label(ctx, desc, labels);
    return;
  }
  try {
    await commit(ctx, () => writer.commitWhole(data, labels), desc, labels, () => writer.close());
  } finally {
    writer.close();
  }
}

/** A layer: streamed from the registry into the store, resuming a partial write. */
export async function fetchBlob(ctx: BlobContext, repo: Repository, desc: Descriptor, labels: Record<string, string> = {}): Promise<void> {
  const writer = await openWriter(ctx, desc);
  if (!writer) {
    await label(ctx, desc, labels);
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
        // The first write at the registry's offset: 0 starts a stale ingest over.
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
      writer.close(); // the ingest must not be held open while it is dropped
      await ctx.content.abort(ingestRef(desc.digest), { lease: ctx.lease }).catch(() => undefined);
      throw new DigestMismatchError(`blob ${desc.digest} from ${repo.host}/${repo.ref.path}: content hashes to ${writer.digest}; refused`);
    }
    await commit(ctx, () => writer.commit(labels), desc, labels, () => writer.close());
  } finally {
    writer.close();
  }
}

/** Runs a commit; a blob that is there by now is fine, a refused one leaves no ingest behind. */
async function commit(ctx: BlobContext, run: () => Promise<void>, desc: Descriptor, labels: Record<string, string>, close: () => void): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (isAlreadyExists(err)) {
      await label(ctx, desc, labels);
      return;
    }
    if (isFailedPrecondition(err)) {
      // containerd's own check of size and digest: the ingest is bad, drop it.
      close();
      await ctx.content.abort(ingestRef(desc.digest), { lease: ctx.lease }).catch(() => undefined);
      throw new DigestMismatchError(`blob ${desc.digest}: containerd refused it: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
