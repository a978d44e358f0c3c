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

/** Writes bytes to a fresh file and returns what reading it throws (or its text). */
async function readBytes(name: string, bytes: Buffer): Promise<{ code?: string; line?: number; message?: string; text?: string }> {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  try {
    return { text: await readSpecFile(path) };
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return { code: err.code, line: err.line, message: formatProblem(fileProblem(path, err)).slice(path.length + 2) };
  }
}

const ascii = (s: string) => Buffer.from(s, 'latin1');

test('bytes that are not UTF-8 are refused with the line of the first bad byte, not turned into U+FFFD', async () => {
  const head = ascii('apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n  name: ');
  const tail = ascii('\nspec:\n  image: busybox\n');
  // A Latin-1 "é" on line 4.
  assert.deepEqual(await readBytes('latin1.yaml', Buffer.concat([head, Buffer.from([0xe9]), tail])), {
    code: 'InvalidUtf8', line: 4, message: 'line 4: is not valid UTF-8 (byte 0xe9 at offset 68); save the file as UTF-8',
  });
  // Ill-formed sequences, each reported at the byte that starts it.
  const cases: Array<[string, number[], number]> = [
    ['a stray continuation byte', [0x80], 0],
    ['an overlong "/"', [0xc0, 0xaf], 0],
    ['an overlong NUL', [0xe0, 0x80, 0x80], 0],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80], 0],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a sequence cut by a newline', [0xe2, 0x82, 0x0a], 0],
    ['a sequence cut by the end of the file', [0x41, 0xe2, 0x82], 1],
  ];
  for (const [what, bad, at] of cases) {
    const got = await readBytes('bad.yaml', Buffer.concat([ascii('a: 1\nb: "'), Buffer.from(bad)]));
    assert.equal(got.code, 'InvalidUtf8', what);
    assert.equal(got.line, 2, what);
    assert.match(got.message ?? '', new RegExp(`byte 0x${bad[at].toString(16).padStart(2, '0')} at offset ${9 + at}\\)`), what);
  }
});

test('valid UTF-8 reads as it is; a byte order mark is dropped so JSON files with one parse', async () => {
  const text = 'metadata: {name: "grüße 🚀"}\n';
  assert.deepEqual(await readBytes('utf8.yaml', Buffer.from(text)), { text });
  assert.deepEqual(await readBytes('bom.json', Buffer.from(`\ufeff{"a": 1}`)), { text: '{"a": 1}' });
});
