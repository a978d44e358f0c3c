// What ships beside the code: the systemd unit passes `systemd-analyze verify` without a
// word (it warns, exit 0, on a bad value, so any output fails) and keeps the properties
// that make `systemctl stop` leave the containers running; the example config is a valid
// config; the Dockerfile has an init as PID 1, git and gpg, and OCI labels equal to
// package.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/cli/config.js';

const root = path.resolve(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; license: string; description: string };

/** The unit with ExecStart pointed at an executable that exists here, verified; returns verify's output. */
function verify(unit: string): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-unit-'));
  const bin = path.join(dir, 'converge');
  writeFileSync(bin, `#!/bin/sh\nexec ${process.execPath} ${path.join(root, 'dist/src/cli/main.js')} "$@"\n`);
  chmodSync(bin, 0o755);
  const file = path.join(dir, 'converge.service');
  writeFileSync(file, unit.replace(/^ExecStart=\/usr\/local\/bin\/converge /m, `ExecStart=${bin} `));
  return new Promise((resolve) => {
    execFile('/usr/bin/systemd-analyze', ['verify', file], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

const unit = read('packaging/converge.service');

test('packaging/converge.service passes systemd-analyze verify without a warning', async () => {
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/converge run --config /m);
  const res = await verify(unit);
  assert.equal(res.output, '');
  assert.equal(res.code, 0);
  // The check can fail: a bad value is reported (as a warning, with exit 0).
  const bad = await verify(unit.replace(/^KillMode=process$/m, 'KillMode=sometimes'));
  assert.match(bad.output, /kill mode/i);
});

test('the unit stops converge alone, restarts it always and reloads it with SIGHUP', () => {
  const keys = new Map(unit.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(keys.get('KillMode'), 'process');
  assert.equal(keys.get('Restart'), 'always');
  assert.ok(['simple', 'exec'].includes(keys.get('Type') ?? ''), keys.get('Type'));
  assert.equal(keys.get('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.match(keys.get('LimitNOFILE') ?? '', /^\d+$/);
  assert.match(keys.get('After') ?? '', /containerd\.service/);
});

test('packaging/converge.yaml, the example config, is a valid config', () => {
  const values = parseConfig('/etc/converge/converge.yaml', read('packaging/converge.yaml'));
  assert.deepEqual(values.dir, ['/etc/converge/specs']);
});

test('the Dockerfile: tini as PID 1, git and gpg installed, OCI labels from package.json', () => {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const final = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const entry = final.find((l) => l.startsWith('ENTRYPOINT '));
  assert.ok(entry, 'an ENTRYPOINT in the last stage');
  const argv = JSON.parse(entry.slice('ENTRYPOINT '.length)) as string[];
  assert.deepEqual(argv.slice(0, 3), ['/usr/bin/tini', '--', 'node']);
  assert.equal(argv.at(-1), '/app/dist/src/cli/main.js');
  const install = final.find((l) => l.startsWith('RUN ') && l.includes('apt-get install')) ?? '';
  for (const p of ['tini', 'git', 'gpg']) assert.match(install, new RegExp(`\\s${p}(\\s|$)`), `${p} is installed`);

  const args = new Map([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const labels = new Map([...final.filter((l) => l.startsWith('LABEL ')).join(' ').matchAll(/(org\.opencontainers\.image\.\w+)="([^"]*)"/g)].map((m) => [m[1], m[2].replace(/^\$\{(\w+)\}$/, (_, a: string) => args.get(a) ?? `unset ${a}`)]));
  assert.equal(labels.get('org.opencontainers.image.title'), 'converge');
  assert.equal(labels.get('org.opencontainers.image.description'), pkg.description);
  assert.equal(labels.get('org.opencontainers.image.licenses'), pkg.license);
  assert.equal(labels.get('org.opencontainers.image.version'), pkg.version);
  assert.match(labels.get('org.opencontainers.image.source') ?? '', /^https:\/\//);
});
