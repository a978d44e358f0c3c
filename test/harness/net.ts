// Ports for the test servers and daemons: a free one to hand to a program that binds it
// itself, a listener of our own on an ephemeral port, whether something answers yet, and the
// two sockets of a relayed connection tied together (the registry's and the API server's relays).

import net from 'node:net';

/** Listens on 127.0.0.1 on a port the kernel picks; resolves with that port. */
export async function listenLocal(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

/**
 * A port nobody listens on right now, for a program that binds it itself (git daemon,
 * docker-registry). Another process may take it in between: those programs are started
 * with SO_REUSEADDR and the start-up wait notices one that exits at once.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Ties a relayed connection's two sockets together: either one closing or failing destroys
 * both; both are in `open` while they live (for a relay that cuts them all).
 */
export function tie(client: net.Socket, upstream: net.Socket, open: Set<net.Socket>): void {
  open.add(client).add(upstream);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted. */
export function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
