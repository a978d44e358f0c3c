// One gRPC channel to containerd's socket and the two call shapes converge needs (unary,
// server stream). Every call carries the namespace header and a deadline, and every
// failure leaves here as a typed error from errors.ts.

import * as grpc from '@grpc/grpc-js';
import { CanceledError, errorOf, fromGrpc } from './errors.js';
import { packageDefinition } from './proto.js';

export type ServiceName =
  | 'containers'
  | 'tasks'
  | 'images'
  | 'content'
  | 'snapshots'
  | 'namespaces'
  | 'events'
  | 'version'
  | 'leases'
  | 'diff';

const SERVICES: Record<ServiceName, string> = {
  containers: 'containerd.services.containers.v1.Containers',
  tasks: 'containerd.services.tasks.v1.Tasks',
  images: 'containerd.services.images.v1.Images',
  content: 'containerd.services.content.v1.Content',
  snapshots: 'containerd.services.snapshots.v1.Snapshots',
  namespaces: 'containerd.services.namespaces.v1.Namespaces',
  events: 'containerd.services.events.v1.Events',
  version: 'containerd.services.version.v1.Version',
  leases: 'containerd.services.leases.v1.Leases',
  diff: 'containerd.services.diff.v1.Diff',
};

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface CallOptions {
  /** Deadline for this call; the client's default otherwise. */
  timeoutMs?: number;
  /** Lease ID: resources created by the call are held by it (containerd-lease header). */
  lease?: string;
  /** Cancels the call; it then rejects with CanceledError. */
  signal?: AbortSignal;
}

export interface StreamOptions extends Omit<CallOptions, 'timeoutMs'> {
  /** Whole-stream deadline; `null` for a stream that lives until cancelled (events). */
  timeoutMs?: number | null;
}

export interface ContainerdClientOptions {
  /** Socket path ("/run/containerd/containerd.sock") or a full "unix://" address. */
  address: string;
  namespace: string;
  timeoutMs?: number;
  /** Told of every finished unary call: its name, how long it took, its error code if it failed (for --log-level trace). */
  trace?: (call: string, ms: number, code?: string) => void;
}

type UnaryCallback = (err: grpc.ServiceError | null, res: unknown) => void;
type UnaryMethod = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: UnaryCallback) => grpc.ClientUnaryCall;
type StreamMethod = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;
type DuplexMethod = (md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, unknown>;

/** A bidirectional stream used as request/response pairs (the content Write protocol). */
export interface Exchange<Req, Res> {
  /** Sends one message and resolves with the next one the server sends. */
  call(req: Req, timeoutMs?: number): Promise<Res>;
  /** Ends the call; one still open on the server is cancelled. */
  close(): void;
}
type ServiceClient = grpc.Client & Record<string, unknown>;

function lookupService(name: string): grpc.ServiceClientConstructor {
  let node: unknown = grpc.loadPackageDefinition(packageDefinition());
  for (const part of name.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`converge: service ${name} not in proto/`);
  return node as grpc.ServiceClientConstructor;
}

export function addressOf(address: string): string {
  return /^[a-z]+:/.test(address) ? address : `unix://${address}`;
}

export class ContainerdClient {
  readonly namespace: string;
  readonly timeoutMs: number;
  private readonly clients = new Map<ServiceName, ServiceClient>();
  private readonly target: string;
  private channel: grpc.Channel | undefined;
  private readonly trace: ContainerdClientOptions['trace'];

  constructor(options: ContainerdClientOptions) {
    this.namespace = options.namespace;
    this.trace = options.trace;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.target = addressOf(options.address);
  }

  /** Service clients share one channel, so one socket connection serves them all. */
  private service(name: ServiceName): ServiceClient {
    let client = this.clients.get(name);
    if (!client) {
      const Ctor = lookupService(SERVICES[name]);
      const opts: grpc.ClientOptions = {
        // Container lists carry full OCI specs; the 4 MiB default is reachable.
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      };
      if (this.channel) opts.channelOverride = this.channel;
      client = new Ctor(this.target, grpc.credentials.createInsecure(), opts) as ServiceClient;
      this.channel ??= client.getChannel() as grpc.Channel;
      this.clients.set(name, client);
    }
    return client;
  }

  private metadata(opts: { lease?: string }): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.namespace);
    if (opts.lease) md.set('containerd-lease', opts.lease);
    return md;
  }

  /** One request, one response, bounded by a deadline. */
  unary<T>(service: ServiceName, method: string, request: object, opts: CallOptions = {}): Promise<T> {
    const what = `${service}.${method}`;
    if (opts.signal?.aborted) return Promise.reject(new CanceledError(`${what}: aborted`));
    const client = this.service(service);
    const fn = client[method] as UnaryMethod | undefined;
    if (typeof fn !== 'function') return Promise.reject(new Error(`converge: ${what} not in proto/`));
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    const began = this.trace && performance.now();
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = fn.call(client, request, this.metadata(opts), { deadline }, (err, res) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (began !== undefined) this.trace?.(what, Math.round((performance.now() - began) * 100) / 100, err ? grpc.status[err.code] : undefined);
        if (!err) {
          resolve(res as T);
          return;
        }
        const mapped = fromGrpc(err, what);
        // Past our own deadline, a vague failure is the deadline's doing (the server ran
        // out of the time we gave it); a precise answer like NotFound still stands.
        const vague = mapped.code === 'Unknown' || mapped.code === 'Canceled';
        reject(vague && Date.now() >= deadline ? errorOf('DeadlineExceeded', mapped.message, err) : mapped);
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A server stream as an async iterable. Ends quietly when `signal` aborts; any other
   * failure (containerd gone, deadline) is thrown as a typed error.
   */
  async *serverStream<T>(
    service: ServiceName,
    method: string,
    request: object,
    opts: StreamOptions = {},
  ): AsyncGenerator<T, void, undefined> {
    const what = `${service}.${method}`;
    if (opts.signal?.aborted) return;
    const client = this.service(service);
    const fn = client[method] as StreamMethod | undefined;
    if (typeof fn !== 'function') throw new Error(`converge: ${what} not in proto/`);
    const timeoutMs = opts.timeoutMs === undefined ? this.timeoutMs : opts.timeoutMs;
    const callOpts: grpc.CallOptions = timeoutMs === null ? {} : { deadline: Date.now() + timeoutMs };
    const call = fn.call(client, request, this.metadata(opts), callOpts);
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of call) yield msg as T;
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw fromGrpc(err, what);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      // A consumer that stops early must not leave the stream open on the server.
      call.cancel();
    }
  }

  /**
   * Opens a bidirectional stream for request/response pairs. The stream has no deadline of
   * its own (a big blob takes what it takes); each exchange has one (`timeoutMs`, or the
   * client's default), and a missed one cancels the stream.
   */
  exchange<Req extends object, Res>(service: ServiceName, method: string, opts: CallOptions = {}): Exchange<Req, Res> {
    const what = `${service}.${method}`;
    const client = this.service(service);
    const fn = client[method] as DuplexMethod | undefined;
    if (typeof fn !== 'function') throw new Error(`converge: ${what} not in proto/`);
    const call = fn.call(client, this.metadata(opts), {});
    const defaultMs = opts.timeoutMs ?? this.timeoutMs;
    const waiting: { resolve: (res: Res) => void; reject: (err: Error) => void }[] = [];
    let failure: Error | undefined;
    let closed = false;
    const fail = (err: Error): void => {
      failure ??= err;
      for (const w of waiting.splice(0)) w.reject(failure);
    };
    const onAbort = (): void => {
      fail(new CanceledError(`${what}: aborted`));
      call.cancel();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    call.on('data', (msg: unknown) => waiting.shift()?.resolve(msg as Res));
    // 'status' always comes, after the last message; 'error' repeats it for non-OK ones.
    call.on('error', () => undefined);
    call.on('status', (st: grpc.StatusObject) => {
      opts.signal?.removeEventListener('abort', onAbort);
      fail(st.code === grpc.status.OK ? errorOf('Internal', `${what}: stream closed`) : fromGrpc(st, what));
    });
    if (opts.signal?.aborted) onAbort();
    return {
      call(req, timeoutMs = defaultMs) {
        if (failure) return Promise.reject(failure);
        return new Promise<Res>((resolve, reject) => {
          const timer = setTimeout(() => {
            fail(errorOf('DeadlineExceeded', `${what}: no answer within ${timeoutMs} ms`));
            call.cancel();
          }, timeoutMs);
          const settle = <A>(f: (a: A) => void) => (a: A): void => {
            clearTimeout(timer);
            f(a);
          };
          waiting.push({ resolve: settle(resolve), reject: settle(reject) });
          call.write(req);
        });
      },
      close() {
        if (closed) return;
        closed = true;
        opts.signal?.removeEventListener('abort', onAbort);
        if (!failure) fail(new CanceledError(`${what}: closed`));
        call.end();
        call.cancel();
      },
    };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.channel = undefined;
  }
}
