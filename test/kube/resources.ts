// The resource endpoints of the test API server: a path resolved to a type, namespace, name
// and subresource, then get/list (JSON or meta.k8s.io Table), create, update, patch (merge,
// JSON patch, server-side apply), delete and deletecollection on the store; watches go to
// the watch hub.

import type http from 'node:http';
import { load } from 'js-yaml';
import { ApiError, badRequest, methodNotAllowed, unsupportedMediaType } from './errors.js';
import { serverSideApply } from './apply.js';
import { jsonPatch, mergePatch } from './patch.js';
import type { Obj, Store, WriteOptions, WriteResult } from './store.js';
import { listOf, toTable } from './table.js';
import type { ResourceType } from './types.js';
import type { WatchHub } from './watch.js';

export interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;

const notFound = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

/** The rest of a path after /api/v1 or /apis/<group>/<version>. */
export function resolveRoute(store: Store, group: string, version: string, rest: string[]): Route {
  const nsType = rest[0] === 'namespaces' && rest.length >= 3 ? store.type(group, version, rest[2]) : undefined;
  if (nsType?.namespaced) {
    if (rest.length > 5) throw notFound();
    return { type: nsType, namespace: rest[1], name: rest[3], subresource: rest[4] };
  }
  const type = store.type(group, version, rest[0]);
  if (!type || rest.length > 3 || (type.namespaced && rest.length > 1)) throw notFound();
  return { type, name: rest[1], subresource: rest[2] };
}

/** The meta.k8s.io version of Table the client accepts ("v1" or "v1beta1"), if any. */
export function tableVersion(accept: string): string | undefined {
  for (const part of accept.split(',')) {
    if (!part.includes('as=Table')) continue;
    const v = part.match(/;\s*v=([\w]+)/)?.[1];
    if (v === 'v1' || v === 'v1beta1') return v;
  }
  return undefined;
}

export function serveResource(store: Store, watches: WatchHub, req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer, route: Route, send: Send): void {
  const { type, namespace: ns, name, subresource } = route;
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  if (subresource !== undefined && (subresource !== 'status' || !type.status)) throw notFound();
  const opts: WriteOptions = {
    // kube's default field manager is the user agent up to its first "/".
    fieldManager: q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0],
    fieldValidation: q.get('fieldValidation') ?? undefined,
    dryRun: q.get('dryRun') === 'All',
    subresource: subresource as 'status' | undefined,
  };
  const table = tableVersion(req.headers.accept ?? '');
  const includeObject = q.get('includeObject') ?? 'Metadata';
  const selectors = { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') };
  const reply = (status: number, result: WriteResult) =>
    send(status, result.object, result.warnings.length ? { Warning: result.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } : {});
  const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0];
  const parse = (): Obj => {
    try {
      return (contentType === 'application/apply-patch+yaml' ? load(body.toString('utf8')) : JSON.parse(body.toString('utf8') || 'null')) as Obj;
    } catch (err) {
      throw badRequest(`the body of the request could not be decoded: ${String(err)}`);
    }
  };
  const watch = q.get('watch') === 'true' || q.get('watch') === '1';

  if (name === undefined) {
    if (method === 'GET' && watch) return watches.open(req, res, { type, namespace: ns, query: q, table });
    if (method === 'GET') {
      const rv = q.get('resourceVersion');
      if (rv && q.get('resourceVersionMatch') === 'Exact' && Number(rv) < store.compacted) {
        throw new ApiError(410, 'Expired', `too old resource version: ${rv} (${store.compacted + 1})`);
      }
      if (rv && Number(rv) > store.revision) throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${store.revision}`);
      const list = store.list(type, ns, selectors);
      return send(200, table ? toTable(type, list.items, list.resourceVersion, table, includeObject) : listOf(type, list.items, list.resourceVersion));
    }
    if (method === 'POST') return reply(201, store.create(type, ns, parse(), opts));
    if (method === 'DELETE') {
      const list = store.list(type, ns, selectors);
      for (const item of list.items) store.delete(type, ns ?? item.metadata.namespace, item.metadata.name, {}, opts.dryRun);
      return send(200, listOf(type, list.items, String(store.revision)));
    }
    throw methodNotAllowed(method);
  }

  switch (method) {
    case 'GET': {
      const obj = store.get(type, ns, name);
      return send(200, table ? toTable(type, [obj], obj.metadata.resourceVersion, table, includeObject) : obj);
    }
    case 'PUT':
      return reply(200, store.update(type, ns, name, parse(), { ...opts, requireVersion: true }));
    case 'PATCH':
      return reply(200, patch(store, route as Required<Pick<Route, 'type' | 'name'>> & Route, contentType, parse(), opts, q.get('force') === 'true'));
    case 'DELETE': {
      const options = body.length ? (parse() ?? {}) : {};
      if (q.get('propagationPolicy')) options.propagationPolicy = q.get('propagationPolicy');
      return send(200, store.delete(type, ns, name, options, opts.dryRun).object);
    }
    default:
      throw methodNotAllowed(method);
  }
}

function patch(store: Store, route: Route & { name: string }, contentType: string, body: Obj, opts: WriteOptions, force: boolean): WriteResult {
  const { type, namespace: ns, name } = route;
  if (contentType === 'application/apply-patch+yaml') {
    if (!opts.fieldManager || opts.fieldManager === 'unknown') throw badRequest('fieldManager: Required value: is required for apply patch');
    let current: Obj | undefined;
    try {
      current = store.get(type, ns, name);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
    const config = { ...body, metadata: { ...(body?.metadata ?? {}), name } };
    if (ns !== undefined) config.metadata.namespace ??= ns;
    const next = serverSideApply(current, config, opts.fieldManager, force, opts.subresource);
    return current ? store.update(type, ns, name, next, { ...opts, applied: true }) : store.create(type, ns, next, { ...opts, applied: true });
  }
  const current = store.get(type, ns, name);
  let patched: unknown;
  if (contentType === 'application/merge-patch+json') patched = mergePatch(current, body);
  else if (contentType === 'application/json-patch+json') patched = jsonPatch(current, body);
  // Strategic merge needs Go struct tags; kube refuses it for custom resources. The built-ins
  // here (namespaces, events) have no list fields that need it: a merge patch does.
  else if (contentType === 'application/strategic-merge-patch+json' && !type.schema) patched = mergePatch(current, body);
  else throw unsupportedMediaType(contentType);
  return store.update(type, ns, name, patched as Obj, opts);
}
