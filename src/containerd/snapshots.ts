// Snapshots service: the writable filesystem of each container, stacked on image layers.

import type { CallOptions, ContainerdClient, StreamOptions } from './client.js';
import { type Mount, type ProtoMount, type ProtoTimestamp, mountFromProto, toDate } from './proto.js';

export type SnapshotKind = 'view' | 'active' | 'committed' | 'unknown';

export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  createdAt?: Date;
  updatedAt?: Date;
  labels: Record<string, string>;
}

interface ProtoInfo {
  name: string;
  parent: string;
  kind: string;
  created_at: ProtoTimestamp | null;
  updated_at: ProtoTimestamp | null;
  labels: Record<string, string>;
}

function fromProto(i: ProtoInfo): SnapshotInfo {
  const kind = i.kind.toLowerCase();
  return {
    name: i.name,
    parent: i.parent,
    kind: kind === 'view' || kind === 'active' || kind === 'committed' ? kind : 'unknown',
    createdAt: toDate(i.created_at),
    updatedAt: toDate(i.updated_at),
    labels: { ...i.labels },
  };
}

type MountsResponse = { mounts: ProtoMount[] };

export class SnapshotsService {
  constructor(private readonly client: ContainerdClient) {}

  /** A new active (writable) snapshot `key` on top of `parent`; its mounts. */
  prepare(snapshotter: string, key: string, parent: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Mount[]> {
    return this.create('Prepare', { snapshotter, key, parent, labels }, opts);
  }

  /** A new read-only view `key` of `parent`; its mounts. */
  view(snapshotter: string, key: string, parent: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Mount[]> {
    return this.create('View', { snapshotter, key, parent, labels }, opts);
  }

  /** Commits active snapshot `key` as `name` (read-only, a parent for others). */
  async commit(snapshotter: string, name: string, key: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<void> {
    await this.client.unary('snapshots', 'Commit', { snapshotter, name, key, labels }, opts);
  }

  private async create(method: 'Prepare' | 'View', req: object, opts?: CallOptions): Promise<Mount[]> {
    const res = await this.client.unary<MountsResponse>('snapshots', method, req, opts);
    return res.mounts.map(mountFromProto);
  }

  async mounts(snapshotter: string, key: string, opts?: CallOptions): Promise<Mount[]> {
    const res = await this.client.unary<MountsResponse>('snapshots', 'Mounts', { snapshotter, key }, opts);
    return res.mounts.map(mountFromProto);
  }

  async remove(snapshotter: string, key: string, opts?: CallOptions): Promise<void> {
    await this.client.unary('snapshots', 'Remove', { snapshotter, key }, opts);
  }

  async stat(snapshotter: string, key: string, opts?: CallOptions): Promise<SnapshotInfo> {
    const res = await this.client.unary<{ info: ProtoInfo }>('snapshots', 'Stat', { snapshotter, key }, opts);
    return fromProto(res.info);
  }

  async list(snapshotter: string, filters: string[] = [], opts?: StreamOptions): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    const stream = this.client.serverStream<{ info: ProtoInfo[] }>('snapshots', 'List', { snapshotter, filters }, opts);
    for await (const page of stream) out.push(...page.info.map(fromProto));
    return out;
  }
}
