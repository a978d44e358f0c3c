// End to end, network: bridge as a user runs it: a real containerd, converge run as a
// process, Debian's CNI plugins and the real iptables. A published port answers on
// 127.0.0.1, peers reach each other by name, a removal leaves the host as it was, a killed
// converge adopts instead of adding again, a crash between ADD and create leaks nothing,
// and a host port asked for twice is a conflict on the second. Each test has a bridge and
// subnet of its own and sends traffic only to 127.0.0.1 published ports and between its
// own containers.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ContainerSpecBody } from '../../src/spec/types.js';
import { allocations, HostWatch, links, removeBridgeAfter, rulesWith, testBridge } from '../harness/hostnet.js';
import { connects, freePort } from '../harness/net.js';
import { DEFAULT_PLUGIN_DIRS } from '../../src/cli/net-flags.js';
import { cli, container, Env, holds, sh, sleeper, waitFor, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

interface BridgeScenario {
  s: Scenario;
  bridge: string;
  subnet: string;
  /** converge run's flags for this test's bridge. */
  args: string[];
  ipamDir: string;
  /** A record, namespace or name file the network keeps for container `id`. */
  netFiles(id: string): string[];
}

async function bridgeScenario(t: TestContext, prefix: string): Promise<BridgeScenario> {
  const { bridge, subnet } = await testBridge();
  const s = await env.scenario(t, prefix, { bridge, subnet, pluginDirs: DEFAULT_PLUGIN_DIRS });
  // After hooks run in the order they were added: the scenario's teardown detaches its
  // containers first, then the bridge goes.
  removeBridgeAfter(bridge, (fn) => t.after(fn));
  const dir = path.join(s.stateDir, 'network');
  return {
    s,
    bridge,
    subnet,
    args: ['--bridge-name', bridge, '--bridge-subnet', subnet, '--backoff-initial', '50ms', '--backoff-max', '1s'],
    ipamDir: path.join(dir, 'ipam', bridge),
    netFiles: (id) =>
      [path.join(dir, 'results', `${id}.json`), path.join(dir, 'netns', id), path.join(dir, 'etc', id)].filter((f) => existsSync(f)),
  };
}

/** busybox httpd on 8080 serving `text`; exits at once on SIGTERM. */
const httpd = (text: string): Partial<ContainerSpecBody> =>
  sh(`mkdir -p /www && echo '${text}' > /www/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait`);

/** Fetches http://NAME:8080/ for each name, over and over, printing "GOT NAME <body>" (busybox nc: its wget is broken). */
const fetcher = (...names: string[]): Partial<ContainerSpecBody> =>
  sh(`trap 'exit 0' TERM; while true; do for n in ${names.join(' ')}; do ` +
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $n 8080 > /tmp/out 2>&1 && echo "GOT $n $(tail -n 1 /tmp/out)"; done; sleep 0.3 & wait; done`);

async function get(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

const answers = (port: number, text: string) => waitFor(async () => (await get(port))?.trim() === text, { what: `127.0.0.1:${port} to answer ${text}`, timeoutMs: 30_000 });

const web = (hostPort: number, text = 'hello from web'): Partial<ContainerSpecBody> => ({
  ...httpd(text),
  network: 'bridge',
  ports: [{ containerPort: 8080, hostPort, hostIP: '127.0.0.1' }],
});

const inSubnet = (ip: string | null, subnet: string) => ip !== null && ip.startsWith(subnet.split('.').slice(0, 3).join('.') + '.');

describe('converge run: network: bridge', () => {
  it('publishes a port on 127.0.0.1, and a peer fetches from it by name as its address changes', async (t) => {
    const b = await bridgeScenario(t, 'pub');
    const c = await b.s.run(b.args);
    const hostPort = await freePort();
    b.s.write('web.yaml', container('web', web(hostPort)));
    await answers(hostPort, 'hello from web');
    b.s.write('client.yaml', container('client', { ...fetcher('web', 'web.default'), network: 'bridge' }));
    await waitFor(() => /GOT web hello from web/.test(b.s.logOf('default.client')) && /GOT web.default hello from web/.test(b.s.logOf('default.client')), {
      what: 'the client to fetch from web by name and by name.namespace',
      detail: () => b.s.logOf('default.client'),
    });

    const row = await c.waitRow('web', (r) => r.ip !== null, 'an address');
    assert.ok(inSubnet(row.ip, b.subnet), `${row.ip} in ${b.subnet}`);
    assert.deepEqual(row.ports, [`127.0.0.1:${hostPort}->8080/tcp`]);
    const table = await cli(['status', '--state-dir', b.s.stateDir]);
    assert.match(table.stdout, /NAMESPACE\s+NAME\s+PHASE.*\bIP\s+PORTS\s+MESSAGE/);
    assert.match(table.stdout, new RegExp(`web\\s+Running.*${row.ip!.replace(/\./g, '\\.')}\\s+127\\.0\\.0\\.1:${hostPort}->8080/tcp`));

    // A new spec: a new container, a new address. The client's /etc/hosts follows it.
    b.s.write('web.yaml', container('web', web(hostPort, 'hello again')));
    const moved = await c.waitRow('web', (r) => r.ip !== null && r.ip !== row.ip && r.phase === 'Running', 'a new address');
    const hosts = path.join(b.s.stateDir, 'network', 'etc', 'default.client', 'hosts');
    await waitFor(() => readFileSync(hosts, 'utf8').includes(`${moved.ip}\tweb web.default\n`), { what: 'the client\'s /etc/hosts to name the new address' });
    await waitFor(() => /GOT web hello again/.test(b.s.logOf('default.client')), { what: 'the client to fetch from the new web by name', detail: () => b.s.logOf('default.client') });
    await answers(hostPort, 'hello again');
  });

  it('a removed container leaves the bridge\'s links, its iptables rules and its allocations as they were', async (t) => {
    const b = await bridgeScenario(t, 'rm');
    const c = await b.s.run(b.args);
    // The bridge and the plugins' shared chains come with the first container and stay.
    b.s.write('anchor.yaml', container('anchor', { ...sleeper(), network: 'bridge' }));
    await c.waitRow('anchor', (r) => r.ip !== null && r.phase === 'Running', 'running on the bridge');
    const watch = new HostWatch(b.bridge, b.subnet);
    const before = { host: await watch.snapshot(), allocations: allocations(b.ipamDir) };

    const hostPort = await freePort();
    b.s.write('web.yaml', container('web', web(hostPort)));
    await answers(hostPort, 'hello from web');
    const during = { host: await watch.snapshot(), allocations: allocations(b.ipamDir) };
    assert.equal(during.allocations.length, 2);
    assert.equal(during.host.bridgePorts.length, 2);
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
    const record = JSON.parse(readFileSync(path.join(b.s.stateDir, 'network', 'results', 'default.web.json'), 'utf8')) as { result: { interfaces: Array<{ name: string; sandbox?: string }> } };
    const veth = record.result.interfaces.find((i) => !i.sandbox && i.name !== b.bridge)!.name;

    b.s.remove('web.yaml');
    await b.s.waitGone('default.web');
    await c.waitRow('anchor', (r) => r.phase === 'Running', 'still running');
    assert.deepEqual({ host: await watch.snapshot(), allocations: allocations(b.ipamDir) }, before);
    assert.ok(!(await links()).includes(veth), `${veth} is gone`);
    assert.deepEqual(b.netFiles('default.web'), []);
    assert.equal(await connects(hostPort), false);
    assert.equal((await c.row('web')), undefined);
  });

  it('a killed and restarted converge keeps the task and its network: the port answers, its DNAT rule is there once', async (t) => {
    const b = await bridgeScenario(t, 'adopt');
    const first = await b.s.run(b.args);
    const hostPort = await freePort();
    b.s.write('web.yaml', container('web', web(hostPort)));
    await answers(hostPort, 'hello from web');
    const pid = await b.s.waitRunning('default.web', { converge: first });
    const ip = (await first.waitRow('web', (r) => r.ip !== null, 'an address')).ip;
    await first.kill();
    // With no controller to ask, `converge status` reads containerd and the network's records.
    const offline = await cli(['status', '--state-dir', b.s.stateDir, '--containerd-address', env.address, '--namespace', b.s.namespace]);
    assert.match(offline.stdout, new RegExp(`web\\s+Running.*${ip!.replace(/\./g, '\\.')}\\s+127\\.0\\.0\\.1:${hostPort}->8080/tcp`), offline.stdout);

    const second = await b.s.run(b.args);
    await second.waitReady();
    const row = await second.waitRow('web', (r) => r.ip !== null, 'adopted');
    assert.equal(row.ip, ip);
    assert.equal(await b.s.waitRunning('default.web', { converge: second }), pid);
    assert.equal(await get(hostPort), 'hello from web\n');
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
    assert.deepEqual(second.find((l) => l.msg === 'container attached to the bridge'), [], 'no new ADD');
    assert.deepEqual(second.actions('default/web'), []);
    assert.deepEqual(allocations(b.ipamDir), [ip]);
  });

  it('a crash between the ADD and the container\'s create leaks nothing: the next start collects it', async (t) => {
    const b = await bridgeScenario(t, 'crash');
    const hostPort = await freePort();
    b.s.write('web.yaml', container('web', web(hostPort)));
    // Killed right after the snapshot is prepared: attached, and no container yet.
    const crashed = await b.s.run(b.args, undefined, { CONVERGE_FAILPOINT: 'snapshot-prepared' });
    await crashed.waitExit();
    assert.equal(crashed.exitSignal, 'SIGKILL');
    assert.deepEqual(await b.s.containerIds(), []);
    const leaked = allocations(b.ipamDir);
    assert.equal(leaked.length, 1);

    const c = await b.s.run(b.args);
    await answers(hostPort, 'hello from web');
    await c.waitLog((l) => l.msg === 'removed the network of a container that no longer exists' && l.id === 'default.web', 'the crashed attachment collected');
    const ip = (await c.waitRow('web', (r) => r.ip !== null, 'an address')).ip;
    assert.deepEqual(allocations(b.ipamDir), [ip]);
    assert.notEqual(ip, leaked[0]);
    for (const sub of ['results', 'netns', 'etc']) {
      assert.deepEqual(readdirSync(path.join(b.s.stateDir, 'network', sub)).filter((n) => !n.endsWith('.tmp')), [sub === 'results' ? 'default.web.json' : 'default.web']);
    }
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
  });

  it('gives 20 containers 20 addresses, and each one\'s /etc/hosts names all of them', async (t) => {
    const b = await bridgeScenario(t, 'many');
    const c = await b.s.run(b.args);
    const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
    for (const name of names) b.s.write(`${name}.yaml`, container(name, { ...sleeper(), network: 'bridge' }));
    const rows = await waitFor(
      async () => {
        const all = (await c.status()).filter((r) => r.phase === 'Running' && r.ip !== null);
        return all.length === 20 ? all : undefined;
      },
      { what: '20 containers running on the bridge', timeoutMs: 90_000, detail: async () => JSON.stringify(await c.status()) },
    );
    const ips = rows.map((r) => r.ip);
    assert.equal(new Set(ips).size, 20, ips.join(' '));
    for (const ip of ips) assert.ok(inSubnet(ip, b.subnet), `${ip} in ${b.subnet}`);
    const hosts = path.join(b.s.stateDir, 'network', 'etc', 'default.n7', 'hosts');
    await waitFor(() => rows.every((r) => readFileSync(hosts, 'utf8').includes(`${r.ip}\t${r.name} ${r.name}.default`)), { what: 'n7\'s /etc/hosts to name all 20' });
  });

  it('a host port asked for twice is a conflict on the second; the first keeps it, and the second runs once it is free', async (t) => {
    const b = await bridgeScenario(t, 'clash');
    const c = await b.s.run(b.args);
    const hostPort = await freePort();
    b.s.write('a.yaml', container('a', web(hostPort, 'hello from a')));
    await answers(hostPort, 'hello from a');
    const pid = await b.s.waitRunning('default.a', { converge: c });
    b.s.write('b.yaml', container('b', web(hostPort, 'hello from b')));
    const row = await c.waitRow('b', (r) => /PortConflict/.test(r.message), 'a port conflict');
    assert.match(row.message, new RegExp(`hostPort 127\\.0\\.0\\.1:${hostPort}/TCP is published by default/a`));
    await holds(async () => {
      assert.ok(!(await b.s.containerIds()).includes('default.b'));
      assert.equal((await b.s.task('default.a'))?.pid, pid);
      assert.equal(await get(hostPort), 'hello from a\n');
    }, 1_500);
    assert.ok(c.running);
    assert.deepEqual(c.actions('default/a').map((l) => l.action), ['create']);

    // An edit that would take the held port is refused before the running container stops.
    const otherPort = await freePort();
    b.s.write('c.yaml', container('c', web(otherPort, 'hello from c')));
    await answers(otherPort, 'hello from c');
    const cPid = await b.s.waitRunning('default.c', { converge: c });
    b.s.write('c.yaml', container('c', web(hostPort, 'hello from c, moved')));
    await c.waitRow('c', (r) => /PortConflict/.test(r.message), 'the edit refused');
    assert.equal((await b.s.task('default.c'))?.pid, cPid);
    assert.equal(await get(otherPort), 'hello from c\n');

    b.s.remove('a.yaml');
    // Freed: one of the two that asked for it gets it, and keeps it.
    const winner = await waitFor(async () => ((await get(hostPort))?.trim() ?? '').match(/^hello from (b|c, moved)$/)?.[1], { what: `127.0.0.1:${hostPort} to answer again`, timeoutMs: 30_000 });
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
    await holds(async () => assert.equal((await get(hostPort))?.trim(), `hello from ${winner}`), 1_000);
  });
});


