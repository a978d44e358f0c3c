// The one error root: the errors of the Git source, the embedded containerd and the OCI
// spec builder are ConvergeErrors, so callers branch on codeOf() for them as for the rest,
// and a cause given is kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OciSpecError } from '../../src/containerd/oci.js';
import { EmbeddedError } from '../../src/embedded/containerd.js';
import { codeOf, ConvergeError } from '../../src/errors.js';
import { GitError } from '../../src/sources/git/exec.js';
import { GitSourceError } from '../../src/sources/git/types.js';

test('Git, embedded containerd and OCI errors are ConvergeErrors with their own name, code and cause', () => {
  const cause = new Error('underneath');
  const cases: Array<[ConvergeError, string, string]> = [
    [new GitError('GIT_TIMEOUT', 'git fetch: no answer', { cause, stderr: 'fatal: x', exitCode: 128 }), 'GitError', 'GIT_TIMEOUT'],
    [new GitSourceError('GIT_KEYRING_EMPTY', 'no key', { cause }), 'GitSourceError', 'GIT_KEYRING_EMPTY'],
    [new EmbeddedError('did not start', { cause }), 'EmbeddedError', 'EmbeddedContainerdFailed'],
    [new OciSpecError('NoCommand', 'nothing to run', { cause }), 'OciSpecError', 'NoCommand'],
  ];
  for (const [err, name, code] of cases) {
    assert.ok(err instanceof ConvergeError, name);
    assert.equal(err.name, name);
    assert.equal(codeOf(err), code, name);
    assert.equal(err.cause, cause, name);
  }
  const git = cases[0][0] as GitError;
  assert.deepEqual([git.stderr, git.exitCode], ['fatal: x', 128]);
});
