// Published ports: defaults, when two of them want the same host socket, how they read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, formatPort, portsOverlap, resolvePort } from '../../src/spec/ports.js';
import { validateDocument } from '../../src/spec/schema.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { containerDoc } from '../harness/specs.js';

test('a port defaults to TCP on every address; 0.0.0.0 is every address too', () => {
  assert.deepEqual(resolvePort({ containerPort: 80, hostPort: 8080 }), { containerPort: 80, hostPort: 8080, protocol: 'TCP', hostIP: '' });
  assert.equal(resolvePort({ containerPort: 80, hostPort: 8080, hostIP: '0.0.0.0' }).hostIP, '');
  assert.equal(resolvePort({ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }).hostIP, '127.0.0.1');
});

test('two ports overlap on the same protocol and port with an address in common', () => {
  const p = (hostPort: number, hostIP = '', protocol: 'TCP' | 'UDP' = 'TCP') => resolvePort({ containerPort: 1, hostPort, hostIP, protocol });
  const table: Array<[ReturnType<typeof p>, ReturnType<typeof p>, boolean]> = [
    [p(80), p(80), true],
    [p(80), p(81), false],
    [p(80, '127.0.0.1'), p(80), true],
    [p(80), p(80, '127.0.0.1'), true],
    [p(80, '127.0.0.1'), p(80, '127.0.0.1'), true],
    [p(80, '127.0.0.1'), p(80, '127.0.0.2'), false],
    [p(53, '', 'UDP'), p(53, '', 'TCP'), false],
    [p(53, '', 'UDP'), p(53, '', 'UDP'), true],
  ];
  for (const [a, b, overlap] of table) assert.equal(portsOverlap(a, b), overlap, `${formatHostPort(a)} vs ${formatHostPort(b)}`);
});

test('ports read as docker shows them', () => {
  assert.equal(formatPort(resolvePort({ containerPort: 8080, hostPort: 18080, hostIP: '127.0.0.1' })), '127.0.0.1:18080->8080/tcp');
  assert.equal(formatPort(resolvePort({ containerPort: 53, hostPort: 53, protocol: 'UDP' })), '0.0.0.0:53->53/udp');
});

test('a bridge container with ports is valid, and its resolved spec carries them with defaults', () => {
  const doc = containerDoc('web', {
    network: 'bridge',
    ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'TCP', hostIP: '127.0.0.1' }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }],
  });
  assert.deepEqual(validateDocument(doc), []);
  const resolved = resolveSpec(doc);
  assert.equal(resolved.network, 'bridge');
  assert.deepEqual(resolved.ports, [
    { containerPort: 8080, hostPort: 18080, protocol: 'TCP', hostIP: '127.0.0.1' },
    { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '' },
  ]);
  assert.equal(resolveSpec(containerDoc('web')).network, 'none');
  assert.deepEqual(resolveSpec(containerDoc('web')).ports, []);
});

test('the same host port on two protocols, or on two addresses, is not published twice', () => {
  const doc = containerDoc('dns', {
    network: 'bridge',
    ports: [
      { containerPort: 53, hostPort: 53, protocol: 'UDP' },
      { containerPort: 53, hostPort: 53, protocol: 'TCP' },
      { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' },
      { containerPort: 81, hostPort: 8080, hostIP: '127.0.0.2' },
    ],
  });
  assert.deepEqual(validateDocument(doc), []);
});
