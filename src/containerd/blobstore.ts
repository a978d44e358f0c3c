// pull's BlobStore over the Content service, under one pull's lease: a blob is written
// through the Write stream under an ingest ref named by its digest (so a write that was
// cut short resumes, and the lease keeps the ingest meanwhile), and containerd's answers
// (AlreadyExists, a locked ref, a refused commit) become what the BlobStore contract says.

import { setTimeout as delay } from 'node:timers/promises';
import type { Descriptor } from '../pull/descriptor.js';
import { DigestMismatchError } from '../pull/errors.js';
import type { BlobStore, BlobWriter } from '../pull/store.js';
import type { ContentService, ContentWriter } from './content.js';
import { isAlreadyExists, isFailedPrecondition, isNotFound, isUnavailable } from './errors.js';

/** Another writer (another pull of a shared layer) holds the ref: wait for it this long. */
const LOCKED_RETRIES = 20;
const LOCKED_WAIT_MS = 250;
/** Deadline of each message of a Write stream. */
const WRITE_TIMEOUT_MS = 60_000;

export function ingestRef(digest: string): string {
  return `converge-pull-${digest}`;
}

export class ContentBlobStore implements BlobStore {
  constructor(
    private readonly content: ContentService,
    private readonly lease: string,
  ) {}

  async writer(desc: Descriptor, labels: Record<string, string>, signal?: AbortSignal): Promise<BlobWriter | undefined> {
    const writer = await this.open(desc, signal);
    if (writer) return new LeasedWriter(this, writer, desc, labels, signal);
    await this.label(desc, labels, signal);
    return undefined;
  }

  async read(desc: Descriptor): Promise<Buffer | undefined> {
    try {
      return await this.content.read(desc.digest, desc.size, { lease: this.lease });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async has(desc: Descriptor): Promise<boolean> {
    try {
      await this.content.info(desc.digest);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Sets `labels` on a blob that is in the store already. */
  async label(desc: Descriptor, labels: Record<string, string>, signal?: AbortSignal): Promise<void> {
    if (Object.keys(labels).length > 0) await this.content.setLabels(desc.digest, labels, { lease: this.lease, signal });
  }

  /** Drops the unfinished write of `digest`. */
  async abort(digest: string): Promise<void> {
    await this.content.abort(ingestRef(digest), { lease: this.lease });
  }

  /**
   * A Write stream for the blob, or undefined when the store has it already: containerd
   * then adds the blob to the lease (so the garbage collector keeps it until the image
   * points at it) and answers AlreadyExists.
   */
  private async open(desc: Descriptor, signal?: AbortSignal): Promise<ContentWriter | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.content.writer({ ref: ingestRef(desc.digest), expected: desc.digest, total: desc.size, lease: this.lease, signal, timeoutMs: WRITE_TIMEOUT_MS });
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        if (!isUnavailable(err) || attempt >= LOCKED_RETRIES) throw err;
        await delay(LOCKED_WAIT_MS, undefined, { signal });
      }
    }
  }
}

class LeasedWriter implements BlobWriter {
  constructor(
    private readonly store: ContentBlobStore,
    private readonly stream: ContentWriter,
    private readonly desc: Descriptor,
    private readonly labels: Record<string, string>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  get offset(): number {
    return this.stream.offset;
  }

  get digest(): string {
    return this.stream.digest;
  }

  write(data: Buffer, offset: number): Promise<void> {
    return this.stream.write(data, offset);
  }

  /** A blob that is there by now is fine; a refused one leaves no ingest behind. */
  async commit(whole?: Buffer): Promise<void> {
    try {
      await (whole ? this.stream.commitWhole(whole, this.labels) : this.stream.commit(this.labels));
    } catch (err) {
      if (isAlreadyExists(err)) {
        await this.store.label(this.desc, this.labels, this.signal);
        return;
      }
      if (isFailedPrecondition(err)) {
        // containerd's own check of size and digest: the ingest is bad, drop it.
        await this.discard().catch(() => undefined);
        throw new DigestMismatchError(`blob ${this.desc.digest}: containerd refused it: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  async discard(): Promise<void> {
    this.stream.close(); // the ingest must not be held open while it is dropped
    await this.store.abort(this.desc.digest);
  }

  close(): void {
    this.stream.close();
  }
}
