// The name files of a bridge container: /etc/hosts with its namespace's peers, resolv.conf
// from the host's, and the in-place rewrite a bind mount needs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostsFile, resolvConf, writeInPlace, type Peer } from '../../src/network/hosts.js';

const web: Peer = { namespace: 'default', name: 'web', ip: '10.213.0.2' };
const db: Peer = { namespace: 'default', name: 'db', ip: '10.213.0.3' };
const other: Peer = { namespace: 'shop', name: 'cart', ip: '10.213.0.4' };

const entries = (text: string): string[] => text.split('\n').filter((l) => l && !l.startsWith('#'));

test('/etc/hosts names the container itself and every peer of its namespace, by name and name.namespace', () => {
  assert.deepEqual(entries(hostsFile(web, [db, web, other])), [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    '10.213.0.2\tweb web.default',
    '10.213.0.3\tdb db.default',
  ]);
  assert.deepEqual(entries(hostsFile(other, [db, web, other])).slice(2), ['10.213.0.4\tcart cart.shop']);
});

test('/etc/hosts is the same whatever order the peers came in, and carries the container\'s own hostname', () => {
  const peers = [{ ...db }, { namespace: 'default', name: 'api', ip: '10.213.0.9' }, web];
  assert.equal(hostsFile(web, peers), hostsFile(web, [...peers].reverse()));
  assert.deepEqual(entries(hostsFile({ ...web, hostnames: ['www'] }, peers)).slice(2), [
    '10.213.0.2\twww web web.default',
    '10.213.0.9\tapi api.default',
    '10.213.0.3\tdb db.default',
  ]);
});

test('resolv.conf keeps the host\'s servers, search and options, and drops loopback stubs', () => {
  const host = 'nameserver 192.0.2.53\nnameserver 127.0.0.53\nsearch example.com\noptions ndots:2\n';
  assert.deepEqual(entries(resolvConf(host)), ['nameserver 192.0.2.53', 'search example.com', 'options ndots:2']);
});

test('resolv.conf with only a local stub takes the stub\'s upstream servers, or none', () => {
  const stub = '# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n';
  const upstream = 'nameserver 198.51.100.1\nnameserver 127.0.0.1\nnameserver 2001:db8::1\n';
  assert.deepEqual(entries(resolvConf(stub, upstream)), ['options edns0 trust-ad', 'search .', 'nameserver 198.51.100.1', 'nameserver 2001:db8::1']);
  assert.deepEqual(entries(resolvConf(stub)), ['options edns0 trust-ad', 'search .']);
});

test('a rewrite keeps the file\'s inode (a bind mount pins it) and its length is the new one', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hosts-unit-'));
  try {
    const file = path.join(dir, 'hosts');
    await writeInPlace(file, 'a long first version of the file\n');
    const inode = statSync(file).ino;
    await writeInPlace(file, 'short\n');
    assert.equal(readFileSync(file, 'utf8'), 'short\n');
    assert.equal(statSync(file).ino, inode);
    writeFileSync(file, 'x');
    await writeInPlace(file, 'longer than before\n');
    assert.equal(readFileSync(file, 'utf8'), 'longer than before\n');
    assert.equal(statSync(file).ino, inode);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
