// Containers service: container records (metadata only; tasks hold the runtime state).

import type { CallOptions, ContainerdClient } from './client.js';
import { type ProtoAny, type ProtoTimestamp, toDate } from './proto.js';

/** The type URL containerd and its clients give an OCI runtime spec in JSON. */
export const OCI_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

export interface Container {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: string;
  snapshotter: string;
  snapshotKey: string;
  /** The OCI spec JSON when the record holds one. */
  spec?: Buffer;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface NewContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: string;
  snapshotter: string;
  snapshotKey: string;
  /** The OCI runtime spec; stored as JSON in an Any. */
  spec: object;
}

interface ProtoContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: ProtoAny | null } | null;
  spec: ProtoAny | null;
  snapshotter: string;
  snapshot_key: string;
  created_at: ProtoTimestamp | null;
  updated_at: ProtoTimestamp | null;
}

function fromProto(c: ProtoContainer): Container {
  return {
    id: c.id,
    labels: { ...c.labels },
    image: c.image,
    runtime: c.runtime?.name ?? '',
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshot_key,
    spec: c.spec && c.spec.value.length > 0 ? c.spec.value : undefined,
    createdAt: toDate(c.created_at),
    updatedAt: toDate(c.updated_at),
  };
}

function toProto(c: NewContainer): object {
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime },
    spec: { type_url: OCI_SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(c.spec)) },
    snapshotter: c.snapshotter,
    snapshot_key: c.snapshotKey,
  };
}

type ContainerResponse = { container: ProtoContainer };

export class ContainersService {
  constructor(private readonly client: ContainerdClient) {}

  async get(id: string, opts?: CallOptions): Promise<Container> {
    const res = await this.client.unary<ContainerResponse>('containers', 'Get', { id }, opts);
    return fromProto(res.container);
  }

  /**
   * Every container, one message each (ListStream, containerd 1.3 on): List answers in one
   * message, which containerd refuses past its 16 MiB send limit, about 1,700 containers
   * with their OCI specs.
   */
  async list(filters: string[] = [], opts?: CallOptions): Promise<Container[]> {
    const out: Container[] = [];
    for await (const m of this.client.serverStream<{ container: ProtoContainer }>('containers', 'ListStream', { filters }, opts)) out.push(fromProto(m.container));
    return out;
  }

  async create(c: NewContainer, opts?: CallOptions): Promise<Container> {
    const res = await this.client.unary<ContainerResponse>('containers', 'Create', { container: toProto(c) }, opts);
    return fromProto(res.container);
  }

  /**
   * Sets the given labels, and only those: the field mask names each one
   * ("labels.<key>"), so other labels and fields stay as they are.
   */
  async updateLabels(id: string, labels: Record<string, string>, opts?: CallOptions): Promise<Container> {
    const paths = Object.keys(labels).map((k) => `labels.${k}`);
    const req = { container: { id, labels }, update_mask: { paths } };
    const res = await this.client.unary<ContainerResponse>('containers', 'Update', req, opts);
    return fromProto(res.container);
  }

  async delete(id: string, opts?: CallOptions): Promise<void> {
    await this.client.unary('containers', 'Delete', { id }, opts);
  }
}
