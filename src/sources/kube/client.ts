// The one door to the Kubernetes API: requests and watch streams with the credentials of a
// kubeconfig or the pod's service account, through @kubernetes/client-node (KubeConfig does
// TLS, tokens, exec plugins and proxies). Its generated API classes are not used: every
// request here needs a deadline (AbortSignal), a patch content type of our choosing and
// the raw metav1.Status of a failure, and a watch must be a stream we can cut. Every HTTP
// failure becomes a KubeApiError with a stable `code`; nothing above sees a status number.

import { HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { ConvergeError } from '../../errors.js';

export type KubeErrorCode =
  | 'NotFound' // 404
  | 'Conflict' // 409: resourceVersion precondition failed, or AlreadyExists
  | 'Gone' // 410 / reason Expired: the resourceVersion is too old; relist
  | 'Invalid' // 422
  | 'Forbidden' // 401, 403
  | 'TooLargeResourceVersion' // 504 with ResourceVersionTooLarge: relist
  | 'Unavailable' // connection refused or reset, 5xx, timeouts
  | 'BadRequest'; // other 4xx

/** A failed request or watch; `status` and `reason` are the HTTP status and metav1.Status reason, when there was an answer. */
export class KubeApiError extends ConvergeError {
  declare readonly code: KubeErrorCode;

  /** How long the server asked us to wait before trying again (429 or 5xx with details.retryAfterSeconds), in ms. */
  retryAfterMs = 0;

  constructor(
    code: KubeErrorCode,
    message: string,
    readonly status = 0,
    readonly reason = '',
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[]; retryAfterSeconds?: number };
}

/** The error for a metav1.Status (HTTP error body, or a watch ERROR event). */
export function fromStatus(status: Status, httpStatus = status.code ?? 0): KubeApiError {
  const reason = status.reason ?? '';
  const message = status.message ?? `HTTP ${httpStatus}`;
  const tooLarge = status.details?.causes?.some((c) => c.reason === 'ResourceVersionTooLarge') ?? false;
  let code: KubeErrorCode;
  if (httpStatus === 410 || reason === 'Expired' || reason === 'Gone') code = 'Gone';
  else if (tooLarge) code = 'TooLargeResourceVersion';
  else if (httpStatus === 404) code = 'NotFound';
  else if (httpStatus === 409) code = 'Conflict';
  else if (httpStatus === 422) code = 'Invalid';
  else if (httpStatus === 401 || httpStatus === 403) code = 'Forbidden';
  else if (httpStatus >= 500 || httpStatus === 429 || httpStatus === 0) code = 'Unavailable';
  else code = 'BadRequest';
  const err = new KubeApiError(code, message, httpStatus, reason);
  // e.g. 429 "storage is (re)initializing" while the server fills its cache of a new CRD
  // or after a restart; bounded, so a server cannot park us for long.
  const after = status.details?.retryAfterSeconds;
  if (code === 'Unavailable' && typeof after === 'number' && after > 0) err.retryAfterMs = Math.min(after, 60) * 1000;
  return err;
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Default application/json. */
  contentType?: string;
  /** Default 15 s. */
  timeoutMs?: number;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, any>;
}

export interface KubeClient {
  /** The API server's URL, for logs. */
  readonly server: string;
  request<T = any>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options?: RequestOptions): Promise<T>;
  /**
   * Opens a watch stream (resolves once the server answered 200). The stream ends when the
   * server ends it; it throws KubeApiError when it breaks, and 'Unavailable' when nothing
   * (not even a bookmark) arrives for `idleMs`.
   */
  watch(path: string, query: Record<string, string | undefined>, signal: AbortSignal, idleMs: number): Promise<AsyncIterable<WatchEvent>>;
}

export interface ClientOptions {
  /** A kubeconfig file; without it: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  userAgent?: string;
}

export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  // loadFromDefault's last resort, when there is no kubeconfig and no service account.
  const guessed = !kubeconfig && cluster?.name === 'cluster' && cluster.server === 'http://localhost:8080';
  if (!cluster || guessed) {
    throw new KubeApiError('BadRequest', 'no Kubernetes API to talk to: give --kubeconfig, set $KUBECONFIG or ~/.kube/config, or run in a pod with a service account');
  }
  return kc;
}

export function createKubeClient(opts: ClientOptions = {}): KubeClient {
  const kc = loadKubeConfig(opts.kubeconfig);
  const server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
  const http = new IsomorphicFetchHttpLibrary();
  const userAgent = opts.userAgent ?? 'converge';

  async function send(method: string, path: string, query: Record<string, string | undefined>, signal: AbortSignal, body?: unknown, contentType?: string) {
    const url = new URL(server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await kc.applySecurityAuthentication(ctx);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('User-Agent', userAgent);
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(body));
    }
    ctx.setSignal(signal);
    try {
      return await http.send(ctx).toPromise();
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
      const what = timedOut ? 'timed out or was cancelled' : `failed: ${(err as Error)?.message ?? String(err)}`;
      throw new KubeApiError('Unavailable', `${method} ${path} ${what}`, 0, '', { cause: err });
    }
  }

  async function failure(status: number, text: string): Promise<KubeApiError> {
    try {
      return fromStatus(JSON.parse(text) as Status, status);
    } catch {
      return fromStatus({ message: text.slice(0, 200) || `HTTP ${status}` }, status);
    }
  }

  return {
    server,
    async request(method, path, options = {}) {
      const signal = AbortSignal.timeout(options.timeoutMs ?? 15_000);
      const res = await send(method, path, options.query ?? {}, signal, options.body, options.contentType);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw new KubeApiError('Unavailable', `${method} ${path}: reading the answer failed`, res.httpStatusCode, '', { cause: err });
      }
      if (res.httpStatusCode >= 400) throw await failure(res.httpStatusCode, text);
      return text ? JSON.parse(text) : undefined;
    },
    async watch(path, query, signal, idleMs) {
      const idle = new AbortController();
      const both = AbortSignal.any([signal, idle.signal]);
      let timer = setTimeout(() => idle.abort(), idleMs).unref();
      const poke = () => {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleMs).unref();
      };
      let res;
      try {
        res = await send('GET', path, { ...query, watch: 'true' }, both);
        if (res.httpStatusCode >= 400) throw await failure(res.httpStatusCode, await res.body.text());
      } catch (err) {
        clearTimeout(timer);
        throw err;
      }
      const stream = res.body.stream() as unknown as ReadableStream<Uint8Array>;
      return (async function* lines(): AsyncGenerator<WatchEvent> {
        const decoder = new TextDecoder();
        let buffered = '';
        try {
          for await (const chunk of stream) {
            poke();
            buffered += decoder.decode(chunk, { stream: true });
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, nl).trim();
              buffered = buffered.slice(nl + 1);
              if (line) yield JSON.parse(line) as WatchEvent;
            }
          }
        } catch (err) {
          if (signal.aborted) return;
          const why = idle.signal.aborted ? `nothing arrived for ${idleMs} ms` : String((err as Error)?.message ?? err);
          throw new KubeApiError('Unavailable', `watch ${path} broke: ${why}`, 0, '', { cause: err });
        } finally {
          clearTimeout(timer);
          idle.abort(); // lets go of the connection when the caller stops early
        }
      })();
    },
  };
}
