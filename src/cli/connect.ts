// What the commands that talk to containerd themselves (exec, stats, restart without a
// controller) share: containerd found as `run` finds it (--containerd-address, the system
// socket, or the embedded one under --state-dir), and a NAME read as a key.

import path from 'node:path';
import { resolveAddress } from '../embedded/address.js';
import { ContainerdClient } from '../containerd/client.js';
import { ContainersService } from '../containerd/containers.js';
import { TasksService } from '../containerd/tasks.js';
import { idOf } from '../containerd/labels.js';

export interface Connection {
  stateDir: string;
  client: ContainerdClient;
  tasks: TasksService;
  containers: ContainersService;
  close(): void;
}

export async function connect(values: { 'containerd-address'?: string; 'state-dir': string; namespace: string }): Promise<Connection> {
  const stateDir = path.resolve(values['state-dir']);
  const { address } = await resolveAddress(values['containerd-address'], stateDir);
  const client = new ContainerdClient({ address, namespace: values.namespace });
  return { stateDir, client, tasks: new TasksService(client), containers: new ContainersService(client), close: () => client.close() };
}

/** NAME or NAMESPACE/NAME (a spec's namespace; "default" when left out) as key and container ID. */
export function target(name: string): { key: string; id: string } {
  const key = name.includes('/') ? name : `default/${name}`;
  return { key, id: idOf(key) };
}
