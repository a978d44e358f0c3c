// Version service: the daemon's version, also the cheapest "is containerd up" probe.

import type { CallOptions, ContainerdClient } from './client.js';

export interface DaemonVersion {
  version: string;
  revision: string;
}

export class VersionService {
  constructor(private readonly client: ContainerdClient) {}

  async version(opts?: CallOptions): Promise<DaemonVersion> {
    const res = await this.client.unary<DaemonVersion>('version', 'Version', {}, opts);
    return { version: res.version, revision: res.revision };
  }
}
