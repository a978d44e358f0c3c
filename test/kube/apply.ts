// Field ownership (metadata.managedFields, FieldsV1) and server-side apply for the test API
// server, simplified from kube's structured-merge-diff:
// - every leaf (scalar, list or empty map) is one field; lists are atomic (no list-map
//   merging), which is what SSA does for lists without x-kubernetes-list-type;
// - an Update (create/update/patch) makes its manager own the leaves it changed, taken from
//   the others; an Apply makes its manager own exactly the leaves of its configuration,
//   conflicts with another manager's differing value unless force, and removes the leaves
//   it applied before and no longer applies when nobody else owns them.

import { clone } from './patch.js';

type Obj = Record<string, any>;
type Path = string[];

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

export class ApplyConflictError extends Error {
  constructor(readonly conflicts: { manager: string; field: string }[], readonly apiVersion: string) {
    super(
      `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ` +
        conflicts.map((c) => `conflict with ${JSON.stringify(c.manager)} using ${apiVersion}: ${c.field}`).join('\n'),
    );
    this.name = 'ApplyConflictError';
  }
}

const isMap = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const keyOf = (p: Path) => JSON.stringify(p);
const fieldName = (p: Path) => '.' + p.join('.');

/** Leaves of the fields a manager can own: metadata labels/annotations/finalizers, spec, everything but status. */
export function leaves(obj: Obj, subresource?: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (node: unknown, path: Path) => {
    if (isMap(node) && Object.keys(node).length > 0) {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
    } else {
      out.set(keyOf(path), node);
    }
  };
  if (subresource === 'status') {
    if (obj.status !== undefined) walk(obj.status, ['status']);
    return out;
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    if (k === 'metadata') {
      for (const mk of ['labels', 'annotations', 'finalizers']) if (v?.[mk] !== undefined) walk(v[mk], ['metadata', mk]);
      continue;
    }
    walk(v, [k]);
  }
  return out;
}

export function toFieldsV1(paths: Iterable<string>): Obj {
  const root: Obj = {};
  for (const key of paths) {
    let node = root;
    for (const seg of JSON.parse(key) as Path) node = node[`f:${seg}`] ??= {};
  }
  return root;
}

export function fromFieldsV1(f: Obj): Set<string> {
  const out = new Set<string>();
  const walk = (node: Obj, path: Path) => {
    const children = Object.keys(node).filter((k) => k.startsWith('f:'));
    if (children.length === 0 && path.length > 0) out.add(keyOf(path));
    for (const k of children) walk(node[k], [...path, k.slice(2)]);
  };
  walk(f ?? {}, []);
  return out;
}

function entries(obj: Obj): ManagedFieldsEntry[] {
  return clone((obj.metadata?.managedFields ?? []) as ManagedFieldsEntry[]);
}

function setEntries(obj: Obj, list: ManagedFieldsEntry[]): void {
  const kept = list.filter((e) => Object.keys(e.fieldsV1).length > 0);
  obj.metadata ??= {};
  if (kept.length > 0) obj.metadata.managedFields = kept;
  else delete obj.metadata.managedFields;
}

/** Records an Update by `manager`: it owns what it changed; nobody owns what is gone. */
export function recordUpdate(old: Obj | undefined, next: Obj, manager: string, subresource?: string): void {
  const before = old ? leaves(old, subresource) : new Map<string, unknown>();
  const after = leaves(next, subresource);
  const changed = [...after].filter(([k, v]) => !before.has(k) || JSON.stringify(before.get(k)) !== JSON.stringify(v)).map(([k]) => k);
  const list = entries(old ?? next).map((e) => {
    const owned = fromFieldsV1(e.fieldsV1);
    for (const k of [...owned]) if (!after.has(k) && (e.subresource ?? '') === (subresource ?? '')) owned.delete(k);
    for (const k of changed) owned.delete(k);
    return { ...e, fieldsV1: toFieldsV1(owned) };
  });
  if (changed.length > 0) {
    let mine = list.find((e) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? ''));
    if (!mine) {
      mine = { manager, operation: 'Update', apiVersion: next.apiVersion, time: '', fieldsType: 'FieldsV1', fieldsV1: {}, ...(subresource ? { subresource } : {}) };
      list.push(mine);
    }
    const owned = fromFieldsV1(mine.fieldsV1);
    for (const k of changed) owned.add(k);
    mine.fieldsV1 = toFieldsV1(owned);
    mine.time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  }
  setEntries(next, list);
}

function deepMerge(base: unknown, config: unknown): unknown {
  if (!isMap(config) || !isMap(base)) return clone(config);
  const out = clone(base);
  for (const [k, v] of Object.entries(config)) out[k] = deepMerge(out[k], v);
  return out;
}

function removeLeaf(obj: Obj, path: Path): void {
  let node: any = obj;
  for (const seg of path.slice(0, -1)) {
    node = node?.[seg];
    if (!isMap(node)) return;
  }
  delete node[path[path.length - 1]];
}

/**
 * Server-side apply of `config` by `manager` onto `current` (undefined: create). Returns the
 * new object with managedFields updated; throws ApplyConflictError.
 */
export function serverSideApply(current: Obj | undefined, config: Obj, manager: string, force: boolean, subresource?: string): Obj {
  const base = current ? clone(current) : { apiVersion: config.apiVersion, kind: config.kind, metadata: {} };
  const applied = leaves(config, subresource);
  const existing = current ? leaves(current, subresource) : new Map<string, unknown>();
  const list = entries(base);
  const sameSub = (e: ManagedFieldsEntry) => (e.subresource ?? '') === (subresource ?? '');
  const conflicts: { manager: string; field: string }[] = [];
  for (const [k, v] of applied) {
    if (!existing.has(k) || JSON.stringify(existing.get(k)) === JSON.stringify(v)) continue;
    for (const e of list) {
      if (e.manager === manager && e.operation === 'Apply') continue;
      if (sameSub(e) && fromFieldsV1(e.fieldsV1).has(k)) conflicts.push({ manager: e.manager, field: fieldName(JSON.parse(k)) });
    }
  }
  if (conflicts.length > 0 && !force) throw new ApplyConflictError(conflicts, config.apiVersion);

  const mineBefore = list.find((e) => e.manager === manager && e.operation === 'Apply' && sameSub(e));
  const previously = mineBefore ? fromFieldsV1(mineBefore.fieldsV1) : new Set<string>();
  let next: Obj;
  if (subresource === 'status') next = { ...base, status: deepMerge(base.status, config.status) };
  else {
    const { status: _s, ...rest } = config;
    next = deepMerge(base, { ...rest, metadata: { ...(config.metadata ?? {}), managedFields: undefined } }) as Obj;
    if (next.metadata?.managedFields === undefined) delete next.metadata.managedFields;
  }
  const othersOwn = (k: string) => list.some((e) => e !== mineBefore && sameSub(e) && fromFieldsV1(e.fieldsV1).has(k));
  for (const k of previously) if (!applied.has(k) && !othersOwn(k)) removeLeaf(next, JSON.parse(k));

  const updated = list
    .filter((e) => e !== mineBefore)
    .map((e) => {
      if (!sameSub(e)) return e;
      const owned = fromFieldsV1(e.fieldsV1);
      // Whoever applied a value that now differs loses it (force, or an unchanged value kept shared).
      for (const k of applied.keys()) if (JSON.stringify(existing.get(k)) !== JSON.stringify(applied.get(k))) owned.delete(k);
      return { ...e, fieldsV1: toFieldsV1(owned) };
    });
  updated.push({
    manager,
    operation: 'Apply',
    apiVersion: config.apiVersion,
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(applied.keys()),
    ...(subresource ? { subresource } : {}),
  });
  setEntries(next, updated);
  return next;
}
