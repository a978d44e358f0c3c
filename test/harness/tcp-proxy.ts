// A TCP relay between a client under test and a server, for network faults the server
// itself cannot make: cut every connection (a watch dropped mid-stream), hold the client
// off altogether (a partition), or hold every byte both ways and let them go later in
// order (a stall: what the client sends meanwhile is built on what it knew before), while
// both ends stay up. It sees bytes only (TLS passes through end to end).

import net from 'node:net';
import { listenLocal, tie } from './net.js';

export class TcpProxy {
  port = 0;
  /** Connections accepted so far. */
  accepted = 0;
  private readonly sockets = new Set<net.Socket>();
  private partitioned = false;
  /** While stalled: the writes held back, in order, and the client connections they came from. */
  private held: (() => void)[] | undefined;
  private readonly heldFrom = new Set<net.Socket>();
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
    tie(client, upstream, this.sockets);
    client.on('data', (d: Buffer) => this.relay(() => upstream.write(d), client));
    upstream.on('data', (d: Buffer) => this.relay(() => client.write(d)));
  }

  private relay(write: () => void, fromClient?: net.Socket): void {
    if (!this.held) return write();
    this.held.push(write);
    if (fromClient) this.heldFrom.add(fromClient);
  }

  /** Holds every byte, both ways, on every connection (new ones too) until release(). */
  stall(): void {
    this.held ??= [];
    this.heldFrom.clear();
  }

  /** How many client connections have sent something that is held. */
  heldConnections(): number {
    return this.heldFrom.size;
  }

  /** Lets everything held go, in the order it came, and relays as before. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.heldFrom.clear();
    for (const write of held) write();
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
    this.held = undefined;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
