// Content service: blobs (indexes, manifests, configs, layers) by digest.

import type { ContainerdClient, Exchange, StreamOptions, CallOptions } from './client.js';
import { InvalidArgumentError } from './errors.js';
import { type ProtoTimestamp, toDate } from './proto.js';

export interface ContentInfo {
  digest: string;
  size: number;
  createdAt?: Date;
  updatedAt?: Date;
  labels: Record<string, string>;
}

interface ProtoInfo {
  digest: string;
  size: number;
  created_at: ProtoTimestamp | null;
  updated_at: ProtoTimestamp | null;
  labels: Record<string, string>;
}

function fromProto(i: ProtoInfo): ContentInfo {
  return {
    digest: i.digest,
    size: i.size,
    createdAt: toDate(i.created_at),
    updatedAt: toDate(i.updated_at),
    labels: { ...i.labels },
  };
}

export interface ReadOptions extends StreamOptions {
  offset?: number;
  /** Bytes to read; 0 or absent reads to the end. */
  size?: number;
}

type WriteAction = 'STAT' | 'WRITE' | 'COMMIT';

interface WriteRequest {
  action: WriteAction;
  ref?: string;
  total?: number;
  expected?: string;
  offset?: number;
  data?: Buffer;
  labels?: Record<string, string>;
}

interface WriteResponse {
  action: WriteAction;
  offset: number;
  total: number;
  /** Digest of everything written so far (containerd hashes what it stores). */
  digest: string;
}

export interface WriterOptions extends Omit<CallOptions, 'timeoutMs'> {
  /** Names the ingest: a later writer with the same ref resumes where this one stopped. */
  ref: string;
  expected: string;
  total: number;
  /** Deadline of each message exchanged (default: the client's). */
  timeoutMs?: number;
}

/**
 * One blob being written through the Content service's Write stream. `offset` is where the
 * ingest stands: non-zero when a ref of an earlier, interrupted write was found.
 */
export class ContentWriter {
  constructor(
    private readonly stream: Exchange<WriteRequest, WriteResponse>,
    private readonly expected: string,
    private readonly total: number,
    private readonly timeoutMs: number | undefined,
    public offset: number,
    /** Digest of what the ingest holds so far. */
    public digest: string,
  ) {}

  /** Appends at `offset`; `offset: 0` on a non-empty ingest starts it over (truncates). */
  async write(data: Buffer, offset = this.offset): Promise<void> {
    const res = await this.stream.call({ action: 'WRITE', offset, data }, this.timeoutMs);
    this.offset = res.offset;
    this.digest = res.digest;
  }

  /**
   * Commits the blob under its expected digest; containerd checks size and digest and
   * refuses a mismatch (FailedPrecondition), leaving the ingest for abort().
   */
  async commit(labels: Record<string, string> = {}): Promise<void> {
    const req = { action: 'COMMIT' as const, offset: this.offset, total: this.total, expected: this.expected, labels };
    const res = await this.stream.call(req, this.timeoutMs);
    this.digest = res.digest;
  }

  /** Writes the whole blob and commits it in one message (a stale ingest starts over). */
  async commitWhole(data: Buffer, labels: Record<string, string> = {}): Promise<void> {
    const req = { action: 'COMMIT' as const, offset: 0, data, total: this.total, expected: this.expected, labels };
    const res = await this.stream.call(req, this.timeoutMs);
    this.offset = res.offset;
    this.digest = res.digest;
  }

  close(): void {
    this.stream.close();
  }
}

export class ContentService {
  constructor(private readonly client: ContainerdClient) {}

  async info(digest: string, opts?: CallOptions): Promise<ContentInfo> {
    const res = await this.client.unary<{ info: ProtoInfo }>('content', 'Info', { digest }, opts);
    return fromProto(res.info);
  }

  /**
   * Opens a writer for blob `expected`. AlreadyExists when the blob is in the store;
   * Unavailable ("ref locked") while another writer holds the same ref.
   */
  async writer(opts: WriterOptions): Promise<ContentWriter> {
    const stream = this.client.exchange<WriteRequest, WriteResponse>('content', 'Write', { lease: opts.lease, signal: opts.signal, timeoutMs: opts.timeoutMs });
    try {
      const res = await stream.call({ action: 'STAT', ref: opts.ref, total: opts.total, expected: opts.expected });
      return new ContentWriter(stream, opts.expected, opts.total, opts.timeoutMs, res.offset, res.digest);
    } catch (err) {
      stream.close();
      throw err;
    }
  }

  /** Drops an unfinished write; one that is not there is fine. */
  async abort(ref: string, opts?: CallOptions): Promise<void> {
    await this.client.unary('content', 'Abort', { ref }, opts);
  }

  /**
   * Sets labels of a committed blob. Only the given keys change (the mask names each), so
   * labels others set stay.
   */
  async setLabels(digest: string, labels: Record<string, string>, opts?: CallOptions): Promise<ContentInfo> {
    const paths = Object.keys(labels).map((k) => `labels.${k}`);
    const req = { info: { digest, labels }, update_mask: { paths } };
    const res = await this.client.unary<{ info: ProtoInfo }>('content', 'Update', req, opts);
    return fromProto(res.info);
  }

  /** The blob as a stream of chunks, in order. */
  async *readStream(digest: string, opts: ReadOptions = {}): AsyncGenerator<Buffer, void, undefined> {
    const req = { digest, offset: opts.offset ?? 0, size: opts.size ?? 0 };
    for await (const chunk of this.client.serverStream<{ offset: number; data: Buffer }>('content', 'Read', req, opts)) {
      yield chunk.data;
    }
  }

  /**
   * The whole blob in memory. `maxBytes` bounds what a manifest or config may cost: a
   * bigger blob is refused rather than read.
   */
  async read(digest: string, maxBytes: number, opts: ReadOptions = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const data of this.readStream(digest, opts)) {
      total += data.length;
      if (total > maxBytes) throw new InvalidArgumentError(`content ${digest} is larger than ${maxBytes} bytes`);
      chunks.push(data);
    }
    return Buffer.concat(chunks, total);
  }
}
