// Content service: blobs (indexes, manifests, configs, layers) by digest.

import type { ContainerdClient, StreamOptions, CallOptions } from './client.js';
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

export class ContentService {
  constructor(private readonly client: ContainerdClient) {}

  async info(digest: string, opts?: CallOptions): Promise<ContentInfo> {
    const res = await this.client.unary<{ info: ProtoInfo }>('content', 'Info', { digest }, opts);
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
