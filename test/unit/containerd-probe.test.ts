// Runtime.probe's choice of address for httpGet and tcpSocket: the host's loopback for
// network host, the container's bridge address for network bridge (here a server of the
// test's own on loopback stands for the container), and a refusal when there is none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { probeContainer } from '../../src/containerd/probe.js';
import type { ExecProbes } from '../../src/containerd/execprobe.js';
import { toDesired } from '../../src/spec/resolve.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { listenLocal } from '../harness/net.js';

const noExec = {} as ExecProbes;

function desiredWith(network: 'host' | 'bridge' | 'none', healthCheck: ContainerSpec['spec']['healthCheck']) {
  const spec: ContainerSpec = { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'web' }, spec: { image: 'localhost/x:1', network, healthCheck } };
  return toDesired(spec, 'dir:/x.yaml');
}

test('httpGet and tcpSocket go to the bridge address of a bridge container, and to loopback for host', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  const port = await listenLocal(server);
  try {
    const asked: string[] = [];
    const address = (id: string) => (asked.push(id), '127.0.0.1');
    const http1 = await probeContainer(noExec, address, desiredWith('bridge', { httpGet: { port, path: '/' } }));
    assert.equal(http1.healthy, true);
    const tcp = await probeContainer(noExec, address, desiredWith('bridge', { tcpSocket: { port } }));
    assert.equal(tcp.healthy, true);
    assert.deepEqual(asked, ['default.web', 'default.web'], 'the bridge address of the container was asked for');
    const host = await probeContainer(noExec, () => assert.fail('no bridge address for network host'), desiredWith('host', { tcpSocket: { port } }));
    assert.equal(host.healthy, true);
  } finally {
    await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  }
});

test('a bridge container not attached (no address yet) is a probe that could not be made, not a failure', async () => {
  await assert.rejects(probeContainer(noExec, () => undefined, desiredWith('bridge', { tcpSocket: { port: 1 } })), { code: 'FailedPrecondition' });
  await assert.rejects(probeContainer(noExec, () => '127.0.0.1', desiredWith('none', { tcpSocket: { port: 1 } })), { code: 'FailedPrecondition' });
});
