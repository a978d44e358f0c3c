// Label and field selectors of list and watch requests, as kube parses them: labels take
// =, ==, !=, in, notin, exists and !exists; fields take metadata.name and
// metadata.namespace with =, == and != (all a custom resource supports without
// selectableFields).

import { badRequest } from './errors.js';

type Obj = Record<string, any>;
export type Selector = (obj: Obj) => boolean;

export function labelSelector(text: string | null): Selector {
  if (!text) return () => true;
  const parts = text.match(/([^,(]+(\([^)]*\))?)/g) ?? [];
  const tests = parts.map((raw) => {
    const part = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const values = m[3].split(',').map((s) => s.trim());
      const [key, op] = [m[1], m[2]];
      return (labels: Obj) => (op === 'in' ? values.includes(labels[key]) : !values.includes(labels[key]));
    }
    if ((m = part.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/))) {
      const [key, op, value] = [m[1], m[2], m[3]];
      return (labels: Obj) => (op === '!=' ? labels[key] !== value : labels[key] === value);
    }
    if ((m = part.match(/^(!?)([\w./-]+)$/))) {
      const [neg, key] = [m[1] === '!', m[2]];
      return (labels: Obj) => (key in labels) !== neg;
    }
    throw badRequest(`unable to parse requirement: ${JSON.stringify(part)}`);
  });
  return (obj) => tests.every((t) => t(obj.metadata?.labels ?? {}));
}

export function fieldSelector(text: string | null, anyField = false, selectable: readonly string[] = []): Selector {
  if (!text) return () => true;
  const tests = text.split(',').map((raw) => {
    const m = raw.trim().match(/^([\w.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${raw}'; can't understand '${raw}'`);
    const [field, op, value] = [m[1], m[2], m[3]];
    if (!anyField && field !== 'metadata.name' && field !== 'metadata.namespace' && !selectable.includes(field)) throw badRequest(`field label not supported: ${field}`);
    const path = field.split('.');
    return (obj: Obj) => (String(path.reduce<any>((node, k) => node?.[k], obj) ?? '') === value) !== (op === '!=');
  });
  return (obj) => tests.every((t) => t(obj));
}
