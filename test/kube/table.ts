// Server-side printing (meta.k8s.io Table) and discovery documents of the test API server:
// what `kubectl get` and kubectl's RESTMapper read.

import type { Obj } from './store.js';
import { VERBS, apiVersionOf, type PrinterColumn, type ResourceType } from './types.js';

/** kube's duration.HumanDuration: 45s, 3m20s, 15m, 5h30m, 3d4h, 400d, 3y. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** The simple JSONPath of printer columns: .a.b, .a[0].b, .a['x.y']. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens = [...path.matchAll(/\.([^.[\]]+)|\[(\d+)\]|\['([^']+)'\]/g)].map((m) => m[1] ?? m[3] ?? Number(m[2]));
  let node: any = obj;
  for (const t of tokens) {
    if (node === null || typeof node !== 'object') return undefined;
    node = node[t as keyof typeof node];
  }
  return node;
}

function cell(column: PrinterColumn, obj: Obj): unknown {
  const value = jsonPath(obj, column.jsonPath);
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'date':
      return typeof value === 'string' ? humanDuration(Date.now() - Date.parse(value)) : null;
    case 'integer':
      return Number.isInteger(value) ? value : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    default:
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function columnsOf(t: ResourceType): PrinterColumn[] {
  if (t.columns.length > 0) return t.columns;
  if (t.plural === 'namespaces') return [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }, AGE];
  if (t.plural === 'events') {
    return [{ name: 'Type', type: 'string', jsonPath: '.type' }, { name: 'Reason', type: 'string', jsonPath: '.reason' },
      { name: 'Object', type: 'string', jsonPath: '.involvedObject.name' }, { name: 'Message', type: 'string', jsonPath: '.message' }];
  }
  return [AGE];
}

/** A meta.k8s.io Table of `items`; `includeObject` is None, Metadata (default) or Object. */
export function toTable(t: ResourceType, items: Obj[], resourceVersion: string, version: string, includeObject = 'Metadata'): Obj {
  const columns = columnsOf(t);
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      ...columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
    ],
    rows: items.map((obj) => ({
      cells: [obj.metadata.name, ...columns.map((c) => cell(c, obj))],
      ...(includeObject === 'None'
        ? {}
        : { object: includeObject === 'Object' ? obj : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata } }),
    })),
  };
}

export function apiResourceList(groupVersion: string, types: ResourceType[]): Obj {
  const resources: Obj[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
    });
    if (t.status) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

export function apiGroup(group: string, types: ResourceType[]): Obj {
  const versions = [...new Set(types.filter((t) => t.group === group).map((t) => t.version))].sort().reverse();
  const list = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: list, preferredVersion: list[0] };
}

export function apiGroupList(types: ResourceType[]): Obj {
  const groups = [...new Set(types.map((t) => t.group).filter((g) => g !== ''))].sort();
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(g, types)) };
}

export const listOf = (t: ResourceType, items: Obj[], resourceVersion: string): Obj => ({
  apiVersion: apiVersionOf(t),
  kind: t.listKind,
  metadata: { resourceVersion },
  items,
});
