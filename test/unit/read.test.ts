// Reading spec files from disk: only regular files are read, whatever the path names (a
// FIFO, a device, a socket or a directory is refused at once, never waited on), and the
// bytes must be UTF-8.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpecError } from '../../src/spec/errors.js';
import { fileProblem, formatProblem, readSpecFile } from '../../src/spec/load.js';
import { mkfifo, releaseFifos, validate } from './specfiles.js';

const dir = mkdtempSync(join(tmpdir(), 'converge-read-'));
after(() => {
  releaseFifos();
  rmSync(dir, { recursive: true, force: true });
});

/** The problem readSpecFile's refusal becomes, as validate prints it. */
async function refusal(path: string): Promise<{ code: string; line: string }> {
  try {
    await readSpecFile(path);
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return { code: err.code, line: formatProblem(fileProblem(path, err)) };
  }
  assert.fail(`${path} was read`);
}

test('a FIFO is refused at once, not waited on', { timeout: 5000 }, async () => {
  const fifo = mkfifo(join(dir, 'pipe.yaml'));
  assert.deepEqual(await refusal(fifo), { code: 'NotRegularFile', line: `${fifo}: is a FIFO, not a regular file` });
});

test('a symlink to a FIFO is refused as the FIFO it points to', { timeout: 5000 }, async () => {
  const fifo = mkfifo(join(dir, 'target-pipe'));
  const link = join(dir, 'link.yaml');
  symlinkSync(fifo, link);
  assert.deepEqual(await refusal(link), { code: 'NotRegularFile', line: `${link}: is a FIFO, not a regular file` });
});

test('devices, sockets and directories are refused, each by its kind', { timeout: 5000 }, async () => {
  assert.deepEqual(await refusal('/dev/null'), { code: 'NotRegularFile', line: '/dev/null: is a character device, not a regular file' });
  const sub = join(dir, 'sub.yaml');
  mkdirSync(sub);
  assert.deepEqual(await refusal(sub), { code: 'NotRegularFile', line: `${sub}: is a directory, not a regular file` });
  const sock = join(dir, 'sock.yaml');
  const server = createServer();
  await new Promise<void>((ok) => server.listen(sock, ok));
  try {
    assert.deepEqual(await refusal(sock), { code: 'NotRegularFile', line: `${sock}: is a socket, not a regular file` });
  } finally {
    await new Promise((ok) => server.close(ok));
  }
});

test('validate reports a FIFO given by name or found in a directory, and checks the rest', { timeout: 5000 }, async () => {
  const specs = join(dir, 'specs');
  mkdirSync(specs);
  const fifo = mkfifo(join(specs, 'a.yaml'));
  writeFileSync(join(specs, 'b.yaml'), 'apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n  name: b\nspec:\n  image: busybox\n');
  const named = mkfifo(join(dir, 'named.yml'));
  const res = await validate([specs, named]);
  assert.equal(res.code, 1);
  assert.deepEqual(res.lines, [
    `${fifo}: is a FIFO, not a regular file`,
    `${named}: is a FIFO, not a regular file`,
    '3 files checked, 1 container, 2 problems',
  ]);
});
