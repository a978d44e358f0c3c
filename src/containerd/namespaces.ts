// Namespaces service: converge keeps everything it owns in one containerd namespace.

import type { CallOptions, ContainerdClient } from './client.js';

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

interface ProtoNamespace {
  name: string;
  labels: Record<string, string>;
}

function fromProto(n: ProtoNamespace): Namespace {
  return { name: n.name, labels: { ...n.labels } };
}

export class NamespacesService {
  constructor(private readonly client: ContainerdClient) {}

  async create(name: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Namespace> {
    const res = await this.client.unary<{ namespace: ProtoNamespace }>(
      'namespaces',
      'Create',
      { namespace: { name, labels } },
      opts,
    );
    return fromProto(res.namespace);
  }

  async get(name: string, opts?: CallOptions): Promise<Namespace> {
    const res = await this.client.unary<{ namespace: ProtoNamespace }>('namespaces', 'Get', { name }, opts);
    return fromProto(res.namespace);
  }

  async list(filter = '', opts?: CallOptions): Promise<Namespace[]> {
    const res = await this.client.unary<{ namespaces: ProtoNamespace[] }>('namespaces', 'List', { filter }, opts);
    return res.namespaces.map(fromProto);
  }
}
