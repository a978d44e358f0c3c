// The Kubernetes client's one error mapping: every metav1.Status (or bare HTTP status) becomes
// a KubeApiError with a stable code, rooted in ConvergeError, that callers branch on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConvergeError, codeOf } from '../../src/errors.js';
import { KubeApiError, fromStatus } from '../../src/sources/kube/client.js';

test('a metav1.Status maps to one stable code', () => {
  const cases: [Parameters<typeof fromStatus>[0], number, string][] = [
    [{ reason: 'NotFound', message: 'containers.converge.dev "web" not found' }, 404, 'NotFound'],
    [{ reason: 'Conflict', message: 'the object has been modified' }, 409, 'Conflict'],
    [{ reason: 'AlreadyExists' }, 409, 'Conflict'],
    [{ reason: 'Expired', message: 'too old resource version' }, 410, 'Gone'],
    [{ reason: 'Expired' }, 200, 'Gone'], // a watch ERROR event carries the reason only
    [{ details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } }, 504, 'TooLargeResourceVersion'],
    [{ reason: 'Invalid' }, 422, 'Invalid'],
    [{ reason: 'Unauthorized' }, 401, 'Forbidden'],
    [{ reason: 'Forbidden' }, 403, 'Forbidden'],
    [{ reason: 'TooManyRequests' }, 429, 'Unavailable'],
    [{ reason: 'InternalError' }, 500, 'Unavailable'],
    [{}, 0, 'Unavailable'],
    [{ reason: 'BadRequest' }, 400, 'BadRequest'],
  ];
  for (const [status, http, code] of cases) {
    const err = fromStatus(status, http);
    assert.equal(err.code, code, `${http} ${JSON.stringify(status)}`);
    assert.equal(err.status, http);
    assert.equal(err.reason, status.reason ?? '');
  }
});

test('KubeApiError is a ConvergeError with its code, name and cause', () => {
  const cause = new Error('ECONNREFUSED');
  const err = new KubeApiError('Unavailable', 'GET /apis failed', 0, '', { cause });
  assert.ok(err instanceof ConvergeError);
  assert.equal(codeOf(err), 'Unavailable');
  assert.equal(err.name, 'KubeApiError');
  assert.equal(err.cause, cause);
  assert.equal(fromStatus({ message: 'gone' }, 410).message, 'gone');
});
