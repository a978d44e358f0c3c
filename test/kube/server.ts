// A test Kubernetes API server over HTTP: discovery, OpenAPI, CRUD with patch and
// server-side apply, the status subresource, and list+watch with bookmarks, on top of
// store.ts. It speaks JSON only (kubectl asks for JSON for custom resources). Tests drive
// failures through it: drop watches mid-stream, hold watch events back, restart with all
// resourceVersions too old, or fail chosen requests. It serves HTTPS with a throwaway
// certificate and wants a bearer token, both in the kubeconfig it writes; there is no
// authorization (RBAC): any valid token may do anything.

import type http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { ApiError } from './errors.js';
import { ApplyConflictError } from './apply.js';
import { encodeDocument, openApiV2, openApiV3 } from './openapi.js';
import { PatchError } from './patch.js';
import { resolveRoute, serveResource, type Send } from './resources.js';
import { Store } from './store.js';
import { apiGroup, apiGroupList, apiResourceList } from './table.js';
import { testCertificate } from './tls.js';
import { WatchHub } from './watch.js';

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  userAgent: string;
  contentType: string;
  watch: boolean;
}

interface Fault {
  match: (r: RequestRecord) => boolean;
  status: number;
  reason: string;
  times: number;
}

export interface ApiServerOptions {
  port?: number;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK; kube's is about a minute. */
  bookmarkMs?: number;
  store?: Store;
}

/** The bearer token the server wants (and writes into its kubeconfig). */
const TOKEN = randomBytes(16).toString('hex');

// kube-openapi answers the @-less spelling: Go's mime parser refuses an "@" in a subtype.
const PROTOBUF_V2_REPLY = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export class TestApiServer {
  readonly store: Store;
  readonly requests: RequestRecord[] = [];
  readonly watches: WatchHub;
  port = 0;
  private server: https.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly faults: Fault[] = [];

  private constructor(private readonly opts: ApiServerOptions) {
    this.store = opts.store ?? new Store();
    this.watches = new WatchHub(this.store, opts.bookmarkMs ?? 60_000);
  }

  /** resourceVersions of the bookmarks sent, in order. */
  get bookmarks(): string[] {
    return this.watches.bookmarks;
  }

  static async start(opts: ApiServerOptions = {}): Promise<TestApiServer> {
    const s = new TestApiServer(opts);
    await s.listen(opts.port ?? 0);
    return s;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  private listen(port: number): Promise<void> {
    const { cert, key } = testCertificate();
    const server = https.createServer({ cert, key }, (req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  /** Closes every connection and the listener. */
  async stop(): Promise<void> {
    this.watches.closeAll();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Stops answering: connections cut, port closed (objects kept, as etcd keeps them). */
  async down(): Promise<void> {
    await this.stop();
  }

  /**
   * Back on the same port with the same objects but none of the history, as a restarted
   * API server's watch cache: every resourceVersion a client holds is now too old (410).
   */
  async up(): Promise<void> {
    this.store.compact();
    await this.listen(this.port);
  }

  async restart(): Promise<void> {
    await this.down();
    await this.up();
  }

  /** Cuts every open watch mid-stream (the TCP connection, not a clean end). */
  dropWatches(): number {
    return this.watches.drop();
  }

  /** Holds watch events back (a slow watch) until resumeWatches(). */
  pauseWatches(): void {
    this.watches.pause();
  }

  resumeWatches(): void {
    this.watches.resume();
  }

  /** Answers the next `times` requests that match with an error status. */
  fail(match: (r: RequestRecord) => boolean, status: number, reason = 'InternalError', times = 1): void {
    this.faults.push({ match, status, reason, times });
  }

  /** Writes a kubeconfig for this server (no auth) and returns its path. */
  writeKubeconfig(path: string, namespace = 'default'): string {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(testCertificate().cert).toString('base64') } }],
      users: [{ name: 'test', user: { token: TOKEN } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace } }],
      'current-context': 'test',
    };
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      status: 0,
      userAgent: req.headers['user-agent'] ?? '',
      contentType: (req.headers['content-type'] ?? '').split(';')[0],
      watch: query.watch === 'true' || query.watch === '1',
    };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
      res.end(data);
    };
    try {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const fault = this.faults.find((f) => f.times > 0 && f.match(record));
      if (fault) {
        fault.times--;
        throw new ApiError(fault.status, fault.reason, `injected failure (${fault.status})`);
      }
      await this.route(req, res, url, Buffer.concat(chunks), send);
      if (record.status === 0) record.status = res.statusCode; // a watch: headers went out early
    } catch (err) {
      if (res.headersSent) return void res.end();
      if (err instanceof ApiError) send(err.code, err.toStatus());
      else if (err instanceof ApplyConflictError) {
        send(409, new ApiError(409, 'Conflict', err.message, { causes: err.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${JSON.stringify(c.manager)}`, field: c.field })) }).toStatus());
      } else if (err instanceof PatchError) send(err.status, new ApiError(err.status, err.status === 400 ? 'BadRequest' : 'Invalid', err.message).toStatus());
      else send(500, new ApiError(500, 'InternalError', String(err)).toStatus());
    }
  }

  private async route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    body: Buffer,
    send: Send,
  ): Promise<void> {
    const segs = url.pathname.split('/').filter(Boolean);
    const types = this.store.allTypes();
    const accept = req.headers.accept ?? '';
    if (url.pathname === '/version') {
      return send(200, { major: '1', minor: '30', gitVersion: 'v1.30.0', gitCommit: 'converge-test', gitTreeState: 'clean', buildDate: '2024-01-01T00:00:00Z', goVersion: 'go1.22', compiler: 'gc', platform: 'linux/amd64' });
    }
    if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) return send(200, 'ok');
    if (url.pathname === '/openapi/v2') {
      const doc = openApiV2(types);
      if (accept.includes('protobuf')) return send(200, encodeDocument(doc), { 'Content-Type': PROTOBUF_V2_REPLY });
      return send(200, doc);
    }
    if (url.pathname === '/openapi/v3') {
      const gvs = [...new Set(types.filter((t) => t.schema).map((t) => `apis/${t.group}/${t.version}`))];
      return send(200, { paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${this.store.revision}` }])) });
    }
    if (segs[0] === 'openapi' && segs[1] === 'v3' && segs[2] === 'apis' && segs.length === 5) {
      return send(200, openApiV3(types.filter((t) => t.group === segs[3] && t.version === segs[4])));
    }
    if (segs[0] === 'api' && segs.length === 1) {
      return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] });
    }
    if (segs[0] === 'apis' && segs.length === 1) return send(200, apiGroupList(types));
    if (segs[0] === 'apis' && segs.length === 2) {
      if (!types.some((t) => t.group === segs[1])) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return send(200, apiGroup(segs[1], types));
    }
    const [group, version, rest] = segs[0] === 'api' ? ['', segs[1], segs.slice(2)] : [segs[1], segs[2], segs.slice(3)];
    if ((segs[0] !== 'api' && segs[0] !== 'apis') || version === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const gvTypes = types.filter((t) => t.group === group && t.version === version);
    if (gvTypes.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (rest.length === 0) return send(200, apiResourceList(group ? `${group}/${version}` : version, gvTypes));
    return serveResource(this.store, this.watches, req, res, url, body, resolveRoute(this.store, group, version, rest), send);
  }

}
