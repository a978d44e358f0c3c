// A TCP relay between a client under test and a server, for network faults the server
// itself cannot make: cut every connection (a watch dropped mid-stream) or hold the client
// off altogether (a partition), while both ends stay up. It sees bytes only (TLS passes
// through end to end), so it says nothing about what is inside.

import net from 'node:net';
import { listenLocal } from './net.js';

export class TcpProxy {
  port = 0;
  /** Connections accepted so far. */
  accepted = 0;
  private readonly sockets = new Set<net.Socket>();
  private partitioned = false;
  private readonly server: net.Server;

  private constructor(private readonly upstreamPort: number) {
    this.server = net.createServer((client) => this.carry(client));
  }

  /** Listens on 127.0.0.1 (a free port) and relays to 127.0.0.1:`upstreamPort`. */
  static async start(upstreamPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(upstreamPort);
    p.port = await listenLocal(p.server);
    return p;
  }

  private carry(client: net.Socket): void {
    this.accepted++;
    if (this.partitioned) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Breaks every open connection (both ends see a reset); new ones are still relayed. */
  cut(): number {
    const n = this.sockets.size / 2;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  /** Cuts every connection and refuses new ones until heal(). */
  partition(): void {
    this.partitioned = true;
    this.cut();
  }

  heal(): void {
    this.partitioned = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
