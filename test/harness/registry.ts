// A private OCI registry for pull tests: Debian's docker-registry on 127.0.0.1 with a temp
// storage dir (htpasswd or token auth optional), behind a small TCP proxy that records the
// requests it carries and can throttle them (so a test can cut a pull in the middle), and
// the busybox test image pushed into it with skopeo.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { HarnessError, run } from './exec.js';
import { register, unregister } from './exitnet.js';
import { freePort, listenLocal, tie } from './net.js';
import { waitFor } from './wait.js';
import { buildBusyboxArchive } from './image.js';
import { tar } from './tar.js';
import type { TokenServer } from './token.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** Basic auth with this one user (bcrypt htpasswd, as the registry wants). */
  htpasswd?: { user: string; password: string };
  /** Bearer auth: tokens from this server. */
  token?: TokenServer;
}

/** One request the proxy saw (plain HTTP, so its head is readable). */
export interface SeenRequest {
  method: string;
  path: string;
  range?: string;
}

export interface Registry {
  /** "127.0.0.1:PORT": what clients use (the proxy). */
  readonly host: string;
  readonly storage: string;
  readonly requests: SeenRequest[];
  /** Bytes the proxy has sent to clients so far. */
  readonly bytesDown: number;
  /** Limits what the proxy sends to clients (bytes per second); undefined lifts it. */
  throttle(bytesPerSecond: number | undefined): void;
  /** SIGKILL the registry (the proxy stays: clients see the connection die). */
  kill(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  /** The file a blob's bytes are kept in (to corrupt it). */
  blobPath(digest: string): string;
  cleanup(): Promise<void>;
}

function configYaml(storage: string, port: number, auth: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog: {disabled: true}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(storage)}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: converge-test-secret',
    auth,
    '',
  ].join('\n');
}

const REQUEST_HEAD = /(GET|HEAD|PUT|POST|PATCH|DELETE) (\/v2\/\S*) HTTP\/1\.[01]\r\n((?:[^\r\n]+\r\n)*)\r\n/g;

class Instance implements Registry {
  readonly requests: SeenRequest[] = [];
  bytesDown = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private rate: number | undefined;
  private readonly sockets = new Set<net.Socket>();
  private proxy: net.Server | undefined;
  host = '';

  constructor(readonly dir: string, readonly storage: string, private readonly config: string, private readonly upstream: number) {}

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(REGISTRY_BIN, ['serve', this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${this.upstream}/v2/`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        return res.status === 200 || res.status === 401;
      },
      {
        what: 'docker-registry to answer /v2/',
        timeoutMs: 15_000,
        abandon: () => (this.child === child ? undefined : new HarnessError('HARNESS_COMMAND_FAILED', `docker-registry exited at start: ${stderr}`)),
        timeoutError: (message, cause) => new HarnessError('HARNESS_COMMAND_TIMEOUT', `${message}: ${stderr}`, { cause }),
      },
    );
  }

  async listen(): Promise<void> {
    this.proxy = net.createServer((client) => this.carry(client));
    this.host = `127.0.0.1:${await listenLocal(this.proxy)}`;
  }

  /** Pipes one client connection to the registry, recording requests, pacing responses. */
  private carry(client: net.Socket): void {
    const upstream = net.connect(this.upstream, '127.0.0.1');
    tie(client, upstream, this.sockets);
    client.on('data', (data: Buffer) => {
      for (const m of data.toString('latin1').matchAll(REQUEST_HEAD)) {
        const range = /^range:\s*(.*)$/im.exec(m[3])?.[1]?.trim();
        this.requests.push(range ? { method: m[1], path: m[2], range } : { method: m[1], path: m[2] });
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      this.bytesDown += data.length;
      client.write(data);
      if (this.rate !== undefined) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (data.length / this.rate) * 1000);
      }
    });
  }

  throttle(bytesPerSecond: number | undefined): void {
    this.rate = bytesPerSecond;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
    // Its connections die with it: what the proxy still holds back (throttled) is lost.
    for (const socket of this.sockets) socket.destroy();
  }

  blobPath(digest: string): string {
    const hex = digest.replace(/^sha256:/, '');
    return path.join(this.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  }

  async cleanup(): Promise<void> {
    await this.kill();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.proxy ? this.proxy.close(() => resolve()) : resolve()));
    rmSync(this.dir, { recursive: true, force: true });
    unregister(this);
  }

  cleanupSync(): void {
    this.child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reg-'));
  const storage = path.join(dir, 'storage');
  let auth = '';
  if (opts.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    const line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], { encoding: 'utf8' });
    writeFileSync(file, line.trim() + '\n');
    auth = `auth:\n  htpasswd: {realm: converge-test, path: ${JSON.stringify(file)}}`;
  } else if (opts.token) {
    const t = opts.token;
    auth = `auth:\n  token: {realm: ${JSON.stringify(t.realm)}, service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${JSON.stringify(t.certPath)}}`;
  }
  const upstream = await freePort();
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, configYaml(storage, upstream, auth));
  const inst = new Instance(dir, storage, config, upstream);
  register(inst);
  try {
    await inst.listen();
    await inst.start();
  } catch (err) {
    await inst.cleanup().catch(() => undefined);
    throw err;
  }
  return inst;
}

/** Pushes the busybox test image as REPO:TAG with skopeo; returns its manifest digest. */
export async function pushBusybox(registry: Registry, repo = 'busybox', tag = 'latest', creds?: { user: string; password: string }): Promise<string> {
  const archive = await buildBusyboxArchive();
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (creds) args.push('--dest-creds', `${creds.user}:${creds.password}`);
  const digestFile = path.join(os.tmpdir(), `skopeo-digest-${process.pid}-${Math.random().toString(36).slice(2)}`);
  args.push('--digestfile', digestFile, `oci-archive:${archive}`, `docker://${registry.host}/${repo}:${tag}`);
  try {
    await run('skopeo', args, { timeoutMs: 60_000 });
    return readFileSync(digestFile, 'utf8').trim();
  } finally {
    rmSync(digestFile, { force: true });
  }
}

// ------------------------------------------------------------------ the registry API, raw

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  if (res.status !== want) throw new HarnessError('HARNESS_COMMAND_FAILED', `${what}: ${res.status} ${await res.text()}`);
}

/** Uploads a blob (POST for an upload URL, then one PUT); returns its descriptor. */
export async function uploadBlob(registry: Registry, repo: string, data: Buffer, mediaType: string): Promise<{ mediaType: string; digest: string; size: number }> {
  const digest = digestOf(data);
  const start = await fetch(`http://${registry.host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(start, 202, `start upload to ${repo}`);
  const location = new URL(start.headers.get('location') ?? '', `http://${registry.host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: new Uint8Array(data), headers: { 'content-type': 'application/octet-stream' } });
  await expectStatus(put, 201, `upload ${digest} to ${repo}`);
  return { mediaType, digest, size: data.length };
}

export async function putManifest(registry: Registry, repo: string, reference: string, mediaType: string, data: Buffer): Promise<string> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(data), headers: { 'content-type': mediaType } });
  await expectStatus(res, 201, `put manifest ${repo}:${reference}`);
  return digestOf(data);
}

export async function getManifest(registry: Registry, repo: string, reference: string): Promise<{ data: Buffer; mediaType: string; digest: string }> {
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${reference}`, { headers: { accept } });
  await expectStatus(res, 200, `get manifest ${repo}:${reference}`);
  const data = Buffer.from(await res.arrayBuffer());
  return { data, mediaType: (res.headers.get('content-type') ?? '').split(';')[0], digest: digestOf(data) };
}

/**
 * Makes REPO:TAG a two-platform index: the host's image as pushed under `source`, and a
 * fake linux/arm64 image (its own config, one tiny layer). Returns both manifest digests.
 */
export async function pushTwoPlatformIndex(registry: Registry, repo: string, tag: string, source: string, hostArch: string): Promise<{ index: string; host: string; other: string; otherArch: string }> {
  const host = await getManifest(registry, repo, source);
  const otherArch = hostArch === 'arm64' ? 'amd64' : 'arm64';
  const layerTar = tar([{ type: 'file', path: 'hello.txt', mode: 0o644, data: Buffer.from(`built for ${otherArch}\n`) }]);
  const layer = await uploadBlob(registry, repo, gzipSync(layerTar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = await uploadBlob(
    registry,
    repo,
    Buffer.from(JSON.stringify({ architecture: otherArch, os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [digestOf(layerTar)] } })),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }));
  const other = await putManifest(registry, repo, digestOf(manifest), 'application/vnd.oci.image.manifest.v1+json', manifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: other, size: manifest.length, platform: { os: 'linux', architecture: otherArch } },
        { mediaType: host.mediaType, digest: host.digest, size: host.data.length, platform: { os: 'linux', architecture: hostArch } },
      ],
    }),
  );
  return { index: await putManifest(registry, repo, tag, 'application/vnd.oci.image.index.v1+json', index), host: host.digest, other, otherArch };
}
