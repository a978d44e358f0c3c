// The status converge writes on a Container resource (src/publish/kube/status.ts): phases to
// conditions, what is kept from the previous status, and nothing that changes by itself.
// That the real API server stores each of these as written is kube-manifests.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusRow } from '../../src/reconcile/status.js';
import { STATUS_MESSAGE_MAX, buildContainerStatus, sameStatus, stableMessage, type StatusInput } from '../../src/publish/kube/status.js';

const T0 = new Date('2024-05-01T10:00:00Z');
const T1 = new Date('2024-05-01T10:05:00Z');

function row(over: Partial<StatusRow> = {}): StatusRow {
  return {
    name: 'web', namespace: 'default', id: 'default.web', phase: 'Running', restarts: 0, exitCode: null, message: '',
    pid: 42, image: 'busybox', source: 'kube:default/web', createdAt: null, startedAt: '2024-05-01T09:59:00.000Z',
    ...over,
  } as StatusRow;
}

const input = (over: Partial<StatusInput> = {}): StatusInput => ({ generation: 3, row: row(), problems: [], deleting: false, now: T0, ...over });
const conds = (s: { conditions: { type: string; status: string; reason: string }[] }) => s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

describe('Container status', () => {
  it('maps each phase to Ready/Progressing/Degraded', () => {
    const table: [Partial<StatusRow>, string[]][] = [
      [{ phase: 'Running' }, ['Ready=True/Running', 'Progressing=False/Converged', 'Degraded=False/AsExpected']],
      [{ phase: 'Pending', pid: null }, ['Ready=False/Pending', 'Progressing=True/Creating', 'Degraded=False/AsExpected']],
      [{ phase: 'Updating' }, ['Ready=False/Updating', 'Progressing=True/Updating', 'Degraded=False/AsExpected']],
      [{ phase: 'Exited', pid: null, exitCode: 0 }, ['Ready=False/Completed', 'Progressing=False/Completed', 'Degraded=False/AsExpected']],
      [{ phase: 'Exited', pid: null, exitCode: 2 }, ['Ready=False/Exited', 'Progressing=False/Exited', 'Degraded=True/ExitedWithError']],
      [{ phase: 'BackOff', pid: null, exitCode: 1 }, ['Ready=False/BackOff', 'Progressing=True/BackOff', 'Degraded=True/CrashLoopBackOff']],
      [{ phase: 'Failed', message: 'NotFound: image' }, ['Ready=False/Failed', 'Progressing=False/Failed', 'Degraded=True/ReconcileFailed']],
    ];
    for (const [r, want] of table) assert.deepEqual(conds(buildContainerStatus(input({ row: row(r) }))), want, r.phase);
  });

  it('with a health check: a Healthy condition, and Ready only once it passes', () => {
    const table: [Partial<StatusRow>, string[]][] = [
      [{ health: 'Healthy' }, ['Ready=True/Running', 'Progressing=False/Converged', 'Degraded=False/AsExpected', 'Healthy=True/Healthy']],
      [{ health: 'Starting' }, ['Ready=False/HealthCheckStarting', 'Progressing=False/Converged', 'Degraded=False/AsExpected', 'Healthy=Unknown/Starting']],
      [{ health: 'Unhealthy' }, ['Ready=False/Unhealthy', 'Progressing=False/Converged', 'Degraded=True/Unhealthy', 'Healthy=False/Unhealthy']],
      [{ health: null }, ['Ready=True/Running', 'Progressing=False/Converged', 'Degraded=False/AsExpected']],
    ];
    for (const [r, want] of table) assert.deepEqual(conds(buildContainerStatus(input({ row: row(r) }))), want, String(r.health));
    const s = buildContainerStatus(input({ row: row({ health: 'Unhealthy', healthFailures: 3, healthOutput: 'boom', lastProbeAt: T0.toISOString() }) }));
    assert.equal(s.health, 'Unhealthy');
    // A new probe with other output and time changes nothing on the resource: no write.
    const again = buildContainerStatus(input({ now: T1, previous: s, row: row({ health: 'Unhealthy', healthFailures: 4, healthOutput: 'bang', lastProbeAt: T1.toISOString() }) }));
    assert.ok(sameStatus(s, again));
  });

  it('carries the row: container ID, pid, restarts, exit code, startedAt, observedGeneration', () => {
    const s = buildContainerStatus(input({ row: row({ restarts: 2, exitCode: 1, phase: 'BackOff', pid: null }) }));
    assert.equal(s.observedGeneration, 3);
    assert.equal(s.containerID, 'default.web');
    assert.equal(s.restartCount, 2);
    assert.equal(s.exitCode, 1);
    assert.equal(s.pid, undefined);
    assert.ok(s.conditions.every((c) => c.observedGeneration === 3));
    assert.equal(s.ip, undefined);
    assert.equal(s.ports, undefined);
  });

  it('carries a bridge container\'s address and published ports', () => {
    const s = buildContainerStatus(input({ row: row({ ip: '10.213.0.2', ports: ['127.0.0.1:18080->8080/tcp'] }) }));
    assert.equal(s.ip, '10.213.0.2');
    assert.deepEqual(s.ports, ['127.0.0.1:18080->8080/tcp']);
  });

  it('keeps lastTransitionTime while a condition keeps its status, moves it when the status flips', () => {
    const first = buildContainerStatus(input({ now: T0 }));
    const same = buildContainerStatus(input({ now: T1, previous: first }));
    assert.ok(sameStatus(first, same), 'nothing changed: the same status, so no write');
    const flipped = buildContainerStatus(input({ now: T1, previous: first, row: row({ phase: 'Exited', pid: null, exitCode: 0 }) }));
    const ready = flipped.conditions.find((c) => c.type === 'Ready')!;
    const degraded = flipped.conditions.find((c) => c.type === 'Degraded')!;
    assert.equal(ready.lastTransitionTime, '2024-05-01T10:05:00Z');
    assert.equal(degraded.lastTransitionTime, '2024-05-01T10:00:00Z', 'Degraded stayed False');
  });

  it('a back-off countdown in the row does not make a new status', () => {
    const a = buildContainerStatus(input({ row: row({ phase: 'BackOff', pid: null, message: 'back-off restarting: exited with code 1; next try in 7s' }) }));
    const b = buildContainerStatus(input({ previous: a, now: T1, row: row({ phase: 'BackOff', pid: null, message: 'back-off restarting: exited with code 1; next try in 3s' }) }));
    assert.ok(sameStatus(a, b));
    assert.equal(stableMessage('OOMKilled; back-off restarting; next try in 12s'), 'OOMKilled; back-off restarting');
    assert.equal(stableMessage('pulling docker.io/library/redis:7: 3.1 MiB of 40.2 MiB (7%); last try: RegistryUnreachable: x'),
      'pulling docker.io/library/redis:7; last try: RegistryUnreachable: x');
  });

  it('keeps startedAt of an adopted task (converge restarted: the row no longer knows it)', () => {
    const before = buildContainerStatus(input());
    const after = buildContainerStatus(input({ previous: before, row: row({ startedAt: null }) }));
    assert.equal(after.startedAt, '2024-05-01T09:59:00.000Z');
    const other = buildContainerStatus(input({ previous: before, row: row({ startedAt: null, pid: 43 }) }));
    assert.equal(other.startedAt, undefined, 'another task: not its start time');
  });

  it('an invalid spec: Degraded/InvalidSpec, the last good version still reported running', () => {
    const s = buildContainerStatus(input({ problems: ['spec.mounts[0].source: is required'] }));
    assert.equal(s.phase, 'Running');
    assert.deepEqual(conds(s), ['Ready=True/Running', 'Progressing=False/Converged', 'Degraded=True/InvalidSpec']);
    assert.match(s.message!, /invalid spec \(generation 3\): spec\.mounts\[0\]\.source: is required; the last good version keeps running/);
    const never = buildContainerStatus(input({ row: undefined, problems: ['spec.x: bad'] }));
    assert.equal(never.phase, 'Invalid');
    assert.equal(never.containerID, undefined);
  });

  it('a conflict with another source, and deletion', () => {
    const c = buildContainerStatus(input({ heldBy: 'dir:/etc/converge/web.yaml' }));
    assert.equal(c.phase, 'Conflict');
    assert.match(c.message!, /dir:\/etc\/converge\/web\.yaml declared this namespace\/name first/);
    assert.equal(c.pid, undefined, 'not our container');
    const d = buildContainerStatus(input({ deleting: true }));
    assert.equal(d.phase, 'Removing');
  });

  it('a message that carries remote text is one bounded line on the resource', () => {
    const s = buildContainerStatus(input({ row: row({ phase: 'Failed', pid: null, message: `RegistryError: ${'x\n\u001b[2J'.repeat(5000)}` }) }));
    // Cut at the bound, then escaped: a kept character is at most six (\u001b), within the CRD's 32768.
    const max = STATUS_MESSAGE_MAX * 6 + 1;
    assert.ok(s.message !== undefined && s.message.length <= max && s.message.endsWith('…'));
    assert.ok(!/[\n\u001b]/.test(s.message ?? ''));
    assert.ok(s.conditions.every((c) => c.message.length <= max && !c.message.includes('\n')));
  });
});
