// Diff service: unpacks a layer blob from the content store onto a snapshot's mounts.

import type { CallOptions, ContainerdClient } from './client.js';
import type { Descriptor } from '../pull/descriptor.js';
import { type ProtoDescriptor, descriptorFromProto, descriptorToProto } from './images.js';
import { type Mount, mountToProto } from './proto.js';

export class DiffService {
  constructor(private readonly client: ContainerdClient) {}

  /**
   * Applies layer `layer` (as stored, usually gzip) onto `mounts`. The result describes the
   * uncompressed layer: its digest is the layer's diff ID, which the caller checks against
   * the image config.
   */
  async apply(layer: Descriptor, mounts: Mount[], opts?: CallOptions): Promise<Descriptor> {
    const req = { diff: descriptorToProto(layer), mounts: mounts.map(mountToProto), payloads: {} };
    const res = await this.client.unary<{ applied: ProtoDescriptor | null }>('diff', 'Apply', req, opts);
    return descriptorFromProto(res.applied);
  }
}
