// metav1.Status errors of the test API server, with kube's reasons, codes and wording, so
// that kubectl and converge see what a real kube-apiserver would answer.

import type { FieldError } from './schema.js';

export interface Details {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: Details) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** What an error names: `containers.converge.dev "web"`. */
export interface Target {
  group: string;
  plural: string;
  name?: string;
}

const resource = (t: Target) => (t.group ? `${t.plural}.${t.group}` : t.plural);

export const notFound = (t: Target) =>
  new ApiError(404, 'NotFound', `${resource(t)} ${JSON.stringify(t.name ?? '')} not found`, { name: t.name, group: t.group || undefined, kind: t.plural });

export const alreadyExists = (t: Target) =>
  new ApiError(409, 'AlreadyExists', `${resource(t)} ${JSON.stringify(t.name ?? '')} already exists`, { name: t.name, group: t.group || undefined, kind: t.plural });

export const conflict = (t: Target, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resource(t)} ${JSON.stringify(t.name ?? '')}: ${why}`, {
    name: t.name,
    group: t.group || undefined,
    kind: t.plural,
  });

export function invalid(kind: string, group: string, name: string, errors: FieldError[]): ApiError {
  const texts = errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
  const list = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind}${group ? `.${group}` : ''} ${JSON.stringify(name)} is invalid: ${list}`, {
    name,
    group: group || undefined,
    kind,
    causes: errors.map((e) => ({ reason: e.reason, message: e.message, field: e.field })),
  });
}

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);

export const methodNotAllowed = (method: string) =>
  new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);

export const unsupportedMediaType = (type: string) =>
  new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${type})`);

/** 410 Gone for a resourceVersion older than the server's history. */
export const expired = (rv: number, oldest: number) =>
  new ApiError(410, 'Expired', `too old resource version: ${rv} (${oldest})`);
