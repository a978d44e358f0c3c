// Images service: an image is a name pointing at a target descriptor in the content store.

import type { Descriptor } from '../pull/descriptor.js';
import type { CallOptions, ContainerdClient } from './client.js';
import { type ProtoTimestamp, toDate } from './proto.js';

export interface Image {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface ProtoDescriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

interface ProtoImage {
  name: string;
  labels: Record<string, string>;
  target: ProtoDescriptor | null;
  created_at: ProtoTimestamp | null;
  updated_at: ProtoTimestamp | null;
}

export function descriptorFromProto(d: ProtoDescriptor | null): Descriptor {
  return {
    mediaType: d?.media_type ?? '',
    digest: d?.digest ?? '',
    size: d?.size ?? 0,
    annotations: { ...(d?.annotations ?? {}) },
  };
}

export function descriptorToProto(d: Descriptor): ProtoDescriptor {
  return { media_type: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations };
}

function fromProto(i: ProtoImage): Image {
  return {
    name: i.name,
    labels: { ...i.labels },
    target: descriptorFromProto(i.target),
    createdAt: toDate(i.created_at),
    updatedAt: toDate(i.updated_at),
  };
}

export class ImagesService {
  constructor(private readonly client: ContainerdClient) {}

  async get(name: string, opts?: CallOptions): Promise<Image> {
    const res = await this.client.unary<{ image: ProtoImage }>('images', 'Get', { name }, opts);
    return fromProto(res.image);
  }

  async list(filters: string[] = [], opts?: CallOptions): Promise<Image[]> {
    const res = await this.client.unary<{ images: ProtoImage[] }>('images', 'List', { filters }, opts);
    return res.images.map(fromProto);
  }

  async create(image: { name: string; labels?: Record<string, string>; target: Descriptor }, opts?: CallOptions): Promise<Image> {
    const res = await this.client.unary<{ image: ProtoImage }>(
      'images',
      'Create',
      { image: { name: image.name, labels: image.labels ?? {}, target: descriptorToProto(image.target) } },
      opts,
    );
    return fromProto(res.image);
  }

  /** Points existing image `name` at a new target (a tag that moved); its labels stay. */
  async updateTarget(name: string, target: Descriptor, opts?: CallOptions): Promise<Image> {
    const res = await this.client.unary<{ image: ProtoImage }>(
      'images',
      'Update',
      { image: { name, labels: {}, target: descriptorToProto(target) }, update_mask: { paths: ['target'] } },
      opts,
    );
    return fromProto(res.image);
  }

  /** With `sync`, containerd collects what the image held before it answers. */
  async delete(name: string, opts?: CallOptions & { sync?: boolean }): Promise<void> {
    await this.client.unary('images', 'Delete', { name, sync: opts?.sync ?? false }, opts);
  }
}
