// The client side of the OCI distribution protocol, for pulling: manifests by tag or digest
// and blobs (resumable with Range), over HTTPS, or plain HTTP for insecure registries
// (listed, and loopback by default as docker does). Authentication is auth.ts's; redirects
// to blob storage are followed by redirect.ts's rules (the same scheme only, a few
// hops, credentials only to the registry's origin). A manifest is read whole but only up to
// a bound; an error body only up to a bound, and shown escaped on one line.

import { type Descriptor, MEDIA_TYPES, digestOf } from './descriptor.js';
import { Authorizer, causeText } from './auth.js';
import type { CredentialStore } from './credentials.js';
import { ImageTooLargeError, PullError, RegistryError, RegistryUnreachableError } from './errors.js';
import { isInsecure } from './hosts.js';
import { type FetchFn, fetchFollowing } from './redirect.js';
import { errorDetail, statusError } from './response.js';
import { type Reference, registryHost } from '../spec/reference.js';
import { USER_AGENT } from '../version.js';

export { isInsecure } from './hosts.js';

const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(', ');
/** containerd's bound on a manifest or index; anything bigger is not one. The default of --max-manifest-size. */
export const MAX_MANIFEST_BYTES = 4 << 20;

export interface RegistryOptions {
  credentials: CredentialStore;
  /** "host:port" (or "host") of registries spoken to over plain HTTP. */
  insecure?: readonly string[];
  /** Deadline for response headers, and the longest a body may stall. Default 30 s. */
  timeoutMs?: number;
  /** Default converge/<version of package.json>. */
  userAgent?: string;
  /** The most a manifest or index may be (default MAX_MANIFEST_BYTES). */
  maxManifestBytes?: number;
  /** Instead of the global fetch (tests). */
  fetch?: FetchFn;
}

export interface Manifest {
  descriptor: Descriptor;
  data: Buffer;
}

export interface BlobBody {
  /** Where the body starts: the offset asked for, or 0 when the registry sent it all. */
  offset: number;
  chunks: AsyncIterable<Uint8Array>;
  /** Drops the connection; for a body that is not read to its end. */
  cancel(): void;
}

export class RegistryClient {
  private readonly authorizer: Authorizer;
  readonly timeoutMs: number;
  readonly userAgent: string;
  readonly maxManifestBytes: number;
  readonly fetch: FetchFn;

  constructor(private readonly opts: RegistryOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? USER_AGENT;
    this.maxManifestBytes = opts.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.fetch = opts.fetch ?? ((url, init) => fetch(url, init));
    this.authorizer = new Authorizer({ credentials: opts.credentials, timeoutMs: this.timeoutMs, userAgent: this.userAgent, insecure: opts.insecure, fetch: this.fetch });
  }

  repository(ref: Reference): Repository {
    const host = registryHost(ref.domain);
    const scheme = isInsecure(host, this.opts.insecure) ? 'http' : 'https';
    return new Repository(this, this.authorizer, ref, host, `${scheme}://${host}/v2/${ref.path}`);
  }
}

export class Repository {
  private readonly scope: string;

  constructor(
    private readonly client: RegistryClient,
    private readonly auth: Authorizer,
    readonly ref: Reference,
    readonly host: string,
    readonly base: string,
  ) {
    this.scope = `repository:${ref.path}:pull`;
  }

  /** A manifest or index by tag or digest, read whole (bounded). */
  async manifest(reference: string, signal?: AbortSignal): Promise<Manifest> {
    const what = `manifest ${this.ref.path}:${reference}`;
    const { res, controller } = await this.send(`${this.base}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what, signal);
    try {
      const max = this.client.maxManifestBytes;
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > max) throw new ImageTooLargeError(`${what} is ${declared} bytes, over the ${max} allowed (--max-manifest-size)`);
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of this.body(res, controller, what, signal)) {
        size += chunk.length;
        if (size > max) throw new ImageTooLargeError(`${what} is over the ${max} bytes allowed (--max-manifest-size)`);
        parts.push(Buffer.from(chunk));
      }
      const mediaType = (res.headers.get('content-type') ?? '').split(';')[0].trim();
      return {
        descriptor: { mediaType, digest: res.headers.get('docker-content-digest') ?? '', size, annotations: {} },
        data: Buffer.concat(parts, size),
      };
    } finally {
      controller.abort();
    }
  }

  /**
   * The digest `reference` (a tag) names now, from one HEAD of the manifest: no body, and no
   * pull counted by registries that count GETs. A registry that leaves out
   * Docker-Content-Digest is asked once more with a GET, and the body hashed.
   */
  async digest(reference: string, signal?: AbortSignal): Promise<string> {
    const what = `manifest ${this.ref.path}:${reference}`;
    const { res, controller } = await this.send(`${this.base}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what, signal, false, 'HEAD');
    controller.abort();
    const claimed = res.headers.get('docker-content-digest') ?? '';
    if (/^sha256:[a-f0-9]{64}$/.test(claimed)) return claimed;
    return digestOf((await this.manifest(reference, signal)).data);
  }

  /** A blob's bytes from `offset` on (a Range request; the registry may send all of it). */
  async blob(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<BlobBody> {
    const what = `blob ${desc.digest}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let sent = await this.send(`${this.base}/blobs/${desc.digest}`, headers, what, signal, offset > 0);
    let start = 0;
    if (offset > 0 && sent.res.status === 206) {
      const m = /^bytes ([0-9]+)-/.exec(sent.res.headers.get('content-range') ?? '');
      if (m && Number(m[1]) === offset) start = offset;
    } else if (offset > 0 && sent.res.status === 416) {
      // The range is past the end as the registry sees it: start over.
      sent.controller.abort();
      sent = await this.send(`${this.base}/blobs/${desc.digest}`, {}, what, signal);
    }
    if (start === 0 && sent.res.status === 206) {
      sent.controller.abort();
      throw new RegistryError(`${what}: registry answered a range that does not start at ${offset}`);
    }
    const { controller } = sent;
    return { offset: start, chunks: this.body(sent.res, controller, what, signal), cancel: () => controller.abort() };
  }

  /**
   * One GET (or HEAD) with authentication: on a 401 the challenge is answered and the request
   * made once more. Resolves with a 2xx (or a 416 when `allowRange`); throws typed errors.
   */
  private async send(
    url: string,
    extra: Record<string, string>,
    what: string,
    signal: AbortSignal | undefined,
    allowRange = false,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<{ res: Response; controller: AbortController }> {
    await this.auth.prepare(this.host, this.ref.domain, this.scope, signal);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': this.client.userAgent, ...extra };
      const authorization = this.auth.authorization(this.host, this.scope);
      if (authorization) headers.authorization = authorization;
      const controller = new AbortController();
      // The caller's signal ends this request and its body; aborting the controller (which
      // every path does once done with the response) unhooks it again.
      const onAbort = (): void => controller.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      controller.signal.addEventListener('abort', () => signal?.removeEventListener('abort', onAbort), { once: true });
      const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.client.timeoutMs} ms`)), this.client.timeoutMs);
      let res: Response;
      try {
        res = await fetchFollowing(url, { fetch: this.client.fetch, method, headers, signal: controller.signal, authOrigin: new URL(this.base).origin, what: `${what} from ${this.host}` });
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const why = controller.signal.aborted ? String((controller.signal.reason as Error)?.message) : causeText(err);
        controller.abort();
        if (err instanceof PullError) throw err;
        throw new RegistryUnreachableError(`registry ${this.host} unreachable: ${why}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
      if (res.ok || (allowRange && res.status === 416)) return { res, controller };
      const detail = await errorDetail(res);
      controller.abort();
      if (res.status === 401 && attempt === 0) {
        this.auth.reset(this.host, this.scope);
        await this.auth.challenge(this.host, this.ref.domain, this.scope, res.headers.get('www-authenticate'), signal);
        continue;
      }
      throw statusError(res.status, `${what} from ${this.host}`, detail);
    }
  }

  /** The response body; a stall longer than the timeout, or a lost connection, is RegistryUnreachable. */
  private async *body(res: Response, controller: AbortController, what: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    if (!res.body) return;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const timer = setTimeout(() => controller.abort(new Error(`no data for ${this.client.timeoutMs} ms`)), this.client.timeoutMs);
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          const why = controller.signal.aborted ? String((controller.signal.reason as Error)?.message) : causeText(err);
          throw new RegistryUnreachableError(`registry ${this.host}: connection lost reading ${what}: ${why}`, { cause: err });
        } finally {
          clearTimeout(timer);
        }
        if (chunk.done) return;
        yield chunk.value;
      }
    } finally {
      controller.abort();
      reader.releaseLock();
    }
  }
}
