// converge's own log: a same-name conflict and a dependsOn cycle are logged once when they
// appear (naming the files), not again at every read of the sources, and once when gone;
// levels are names and errors keep their stack and cause.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createDesiredStore, OPEN_GATE } from '../../src/desired.js';
import { createLogger } from '../../src/log.js';
import { desired } from '../harness/specs.js';
import type { DesiredContainer, Snapshot } from '../../src/spec/types.js';

interface Line {
  level: string;
  msg: string;
  [field: string]: unknown;
}

function sink(): { lines: Line[]; log: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination }) };
}

const c = (name: string, origin: string, deps: string[] = []): DesiredContainer => desired(name, deps.length > 0 ? { dependsOn: deps } : {}, `h-${name}`, origin);
const snap = (specs: DesiredContainer[]): Snapshot => ({ source: 'dir:/s', specs, problems: [], complete: true });

test('a same-name conflict is logged once with both files, not at every resync, and once when resolved', () => {
  const { lines, log } = sink();
  const store = createDesiredStore(['dir:/s'], OPEN_GATE, log);
  const both = snap([c('web', 'dir:/s/a.yaml'), c('web', 'dir:/s/b.yaml'), c('db', 'dir:/s/db.yaml')]);
  for (let i = 0; i < 5; i++) store.update(both); // the first read, then resyncs
  const conflicts = lines.filter((l) => l.msg.startsWith('same-name conflict'));
  assert.equal(conflicts.length, 1, JSON.stringify(lines));
  assert.equal(conflicts[0].level, 'warn');
  assert.equal(conflicts[0].key, 'default/web');
  assert.equal(conflicts[0].file, '/s/b.yaml');
  assert.equal(conflicts[0].holder, '/s/a.yaml');
  assert.match(String(conflicts[0].problem), /conflicts with dir:\/s\/a\.yaml/);

  store.update(snap([c('web', 'dir:/s/a.yaml'), c('db', 'dir:/s/db.yaml')]));
  store.update(snap([c('web', 'dir:/s/a.yaml'), c('db', 'dir:/s/db.yaml')]));
  const resolved = lines.filter((l) => l.msg === 'conflict or cycle resolved');
  assert.equal(resolved.length, 1);
  assert.deepEqual([resolved[0].level, resolved[0].key, resolved[0].file], ['info', 'default/web', '/s/b.yaml']);

  // It comes back: a new appearance, logged again.
  store.update(both);
  assert.equal(lines.filter((l) => l.msg.startsWith('same-name conflict')).length, 2);
});

test('a dependsOn cycle is logged once per member, naming its file', () => {
  const { lines, log } = sink();
  const store = createDesiredStore(['dir:/s'], OPEN_GATE, log);
  const cyclic = snap([c('a', 'dir:/s/a.yaml', ['b']), c('b', 'dir:/s/b.yaml', ['a'])]);
  store.update(cyclic);
  store.update(cyclic);
  const cycles = lines.filter((l) => l.msg.startsWith('dependsOn cycle'));
  assert.deepEqual(cycles.map((l) => [l.key, l.file]).sort(), [['default/a', '/s/a.yaml'], ['default/b', '/s/b.yaml']]);
  assert.match(String(cycles[0].cycle), /->/);
});

test('the logger writes level names and serializes errors with stack and cause', () => {
  const { lines, log } = sink();
  const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  log.error({ err: new Error('pull failed', { cause }) }, 'something failed');
  assert.equal(lines[0].level, 'error');
  const err = lines[0].err as { type: string; message: string; stack: string };
  assert.equal(err.type, 'Error');
  assert.match(err.message, /pull failed: connect ECONNREFUSED/);
  assert.match(err.stack, /pull failed[^]*caused by: Error: connect ECONNREFUSED/);
});
