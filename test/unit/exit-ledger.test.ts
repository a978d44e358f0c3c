// ExitLedger: one exit per task, from its exit event or, when containerd lost that, from the
// delete event that carries the same exit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Envelope } from '../../src/containerd/events.js';
import { ExitLedger } from '../../src/containerd/eventstream.js';

const env = (type: string, value: object): Envelope => ({ namespace: 'n', topic: '/tasks/x', typeUrl: type, event: { type: `containerd.events.${type}`, value } });
const start = (pid: number): Envelope => env('TaskStart', { container_id: 'default.web', pid });
const exit = (pid: number, status: number, id = 'default.web'): Envelope =>
  env('TaskExit', { container_id: 'default.web', id, pid, exit_status: status, exited_at: { seconds: 5, nanos: 0 } });
const del = (pid: number, status: number, id = ''): Envelope =>
  env('TaskDelete', { container_id: 'default.web', id, pid, exit_status: status, exited_at: { seconds: 6, nanos: 0 } });

/** The events a sequence of envelopes becomes, as "type[:pid:status]". */
function run(...envs: Envelope[]): string[] {
  const ledger = new ExitLedger();
  return envs.flatMap((e) => ledger.pass(e)).map((e) => (e.type === 'exit' ? `exit:${e.pid}:${e.exitStatus}` : e.type));
}

describe('ExitLedger', () => {
  it('passes an exit and its delete as they come', () => {
    assert.deepEqual(run(start(10), exit(10, 3), del(10, 3)), ['start', 'exit:10:3', 'delete']);
  });

  it('hands on the exit a delete carries when the exit event was lost', () => {
    assert.deepEqual(run(start(10), del(10, 137)), ['start', 'exit:10:137', 'delete']);
    const ledger = new ExitLedger();
    ledger.pass(start(10));
    const [made] = ledger.pass(del(10, 137));
    assert.deepEqual(made, { type: 'exit', key: 'default/web', pid: 10, exitStatus: 137, exitedAt: new Date(6000) });
  });

  it('hands on an exit once: a late original, or containerd cleaning up after its shim', () => {
    assert.deepEqual(run(start(10), del(10, 137), exit(10, 137)), ['start', 'exit:10:137', 'delete']);
    // containerd 2's "unknown" exit (pid 0, 255) after the real one is the same task's.
    assert.deepEqual(run(start(10), exit(10, 3), exit(0, 255), del(0, 255)), ['start', 'exit:10:3', 'delete']);
    assert.deepEqual(run(exit(10, 3), exit(10, 3)), ['exit:10:3']);
  });

  it("an older task's delete that comes after a newer task's start is not the newer one's exit", () => {
    assert.deepEqual(run(start(10), start(20), del(10, 1)), ['start', 'start', 'delete']);
    assert.deepEqual(run(start(10), start(20), del(10, 1), del(20, 1)), ['start', 'start', 'delete', 'exit:20:1', 'delete']);
  });

  it('a new task exits anew, whatever its pid', () => {
    assert.deepEqual(run(start(10), exit(10, 1), del(10, 1), start(20), exit(20, 1)), ['start', 'exit:10:1', 'delete', 'start', 'exit:20:1']);
    assert.deepEqual(run(start(10), exit(10, 1), start(20), exit(0, 255)), ['start', 'exit:10:1', 'start', 'exit:0:255']);
  });

  it('an unknown exit of a task whose exit was not seen is passed on', () => {
    assert.deepEqual(run(start(10), exit(0, 255)), ['start', 'exit:0:255']);
    assert.deepEqual(run(exit(0, 255)), ['exit:0:255']);
  });

  it('ignores exec processes and deletes of a task that never had a process', () => {
    assert.deepEqual(run(start(10), exit(11, 0, 'exec1'), del(11, 0, 'exec1'), del(0, 0)), ['start', 'delete']);
  });
});
