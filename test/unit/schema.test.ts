// The schema and the checks beside it: the full example of DESIGN.md is valid, every kind of
// mistake names its field path and what was expected, and the schema file stays convertible
// to a Kubernetes structural schema.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { load } from 'js-yaml';
import { boundedDistance, closest, loadSchema, validateDocument, type SpecIssue } from '../../src/spec/schema.js';
import { CPU_PATTERN, MEMORY_PATTERN } from '../../src/spec/quantity.js';
import { IPV4_PATTERN } from '../../src/spec/ports.js';
import { containerDoc } from '../harness/specs.js';

const DESIGN_EXAMPLE = `
apiVersion: converge.dev/v1alpha1
kind: Container
metadata:
  name: web
  namespace: default
  labels: {tier: front}
spec:
  image: localhost/busybox:latest
  imagePullPolicy: IfNotPresent
  command: ["/bin/sh", "-c"]
  args: ["echo hi; sleep 3600"]
  env: [{name: GREETING, value: hello}]
  workingDir: /
  user: "1000:1000"
  hostname: web
  restartPolicy: Always
  stopSignal: SIGTERM
  terminationGracePeriodSeconds: 10
  resources: {limits: {memory: 64Mi, cpu: 500m, pids: 256}}
  mounts:
    - {type: bind, source: /srv/data, target: /data, readOnly: true}
    - {type: tmpfs, target: /tmp, sizeLimit: 16Mi}
  network: none
  dependsOn: [db]
  healthCheck: {exec: ["/bin/sh","-c","test -f /tmp/ready"], periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3}
  nodeName: node-1
`;

type Doc = Record<string, any>;

function example(): Doc {
  return load(DESIGN_EXAMPLE) as Doc;
}

function minimal(): Doc {
  return containerDoc('web') as Doc;
}

function issuesAfter(change: (d: Doc) => void, base: () => Doc = example): SpecIssue[] {
  const doc = base();
  change(doc);
  return validateDocument(doc);
}

test('the full example of DESIGN.md is valid', () => {
  assert.deepEqual(validateDocument(example()), []);
});

test('a minimal document (name and image) is valid', () => {
  assert.deepEqual(validateDocument(minimal()), []);
});

const DNS = /DNS-1123 label/;

const mistakes: Array<{ name: string; change: (d: Doc) => void; path: string; message: RegExp }> = [
  { name: 'restartPolicy not in the enum', change: (d) => (d.spec.restartPolicy = 'Sometimes'), path: 'spec.restartPolicy', message: /^must be one of Always, OnFailure, Never$/ },
  { name: 'imagePullPolicy not in the enum', change: (d) => (d.spec.imagePullPolicy = 'Maybe'), path: 'spec.imagePullPolicy', message: /^must be one of Always, IfNotPresent, Never$/ },
  { name: 'network not in the enum', change: (d) => (d.spec.network = 'overlay'), path: 'spec.network', message: /^must be one of none, host, bridge$/ },
  { name: 'ports without network bridge', change: (d) => (d.spec.ports = [{ containerPort: 80, hostPort: 8080 }]), path: 'spec.ports', message: /only with network: bridge \(network is 'none'\)/ },
  { name: 'port without hostPort', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80 }])), path: 'spec.ports[0].hostPort', message: /^is required$/ },
  { name: 'hostPort out of range', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80, hostPort: 65536 }])), path: 'spec.ports[0].hostPort', message: /^must be <= 65535$/ },
  { name: 'containerPort zero', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 0, hostPort: 80 }])), path: 'spec.ports[0].containerPort', message: /^must be >= 1$/ },
  { name: 'port protocol unknown', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80, hostPort: 80, protocol: 'tcp' }])), path: 'spec.ports[0].protocol', message: /^must be one of TCP, UDP$/ },
  { name: 'hostIP not an address', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80, hostPort: 80, hostIP: 'localhost' }])), path: 'spec.ports[0].hostIP', message: /IPv4 address such as 127\.0\.0\.1/ },
  { name: 'hostIP out of range', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80, hostPort: 80, hostIP: '127.0.0.256' }])), path: 'spec.ports[0].hostIP', message: /IPv4 address/ },
  {
    name: 'a host port published twice',
    change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = [{ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }, { containerPort: 81, hostPort: 8080 }])),
    path: 'spec.ports[1].hostPort',
    message: /publishes 0\.0\.0\.0:8080\/TCP again \(also spec\.ports\[0\]\.hostPort\)/,
  },
  { name: 'too many ports', change: (d) => ((d.spec.network = 'bridge'), (d.spec.ports = Array.from({ length: 65 }, (_, i) => ({ containerPort: 80, hostPort: 1000 + i })))), path: 'spec.ports', message: /^must have at most 64 items$/ },
  { name: 'wrong apiVersion', change: (d) => (d.apiVersion = 'v1'), path: 'apiVersion', message: /must be one of converge\.dev\/v1alpha1/ },
  { name: 'wrong kind', change: (d) => (d.kind = 'Pod'), path: 'kind', message: /must be one of Container/ },
  { name: 'image missing', change: (d) => delete d.spec.image, path: 'spec.image', message: /^is required$/ },
  { name: 'metadata missing', change: (d) => delete d.metadata, path: 'metadata', message: /^is required$/ },
  { name: 'image empty', change: (d) => (d.spec.image = ''), path: 'spec.image', message: /must not be empty/ },
  { name: 'memory not a quantity', change: (d) => (d.spec.resources.limits.memory = '64MB'), path: 'spec.resources.limits.memory', message: /quantity of bytes such as 64Mi/ },
  { name: 'memory a number', change: (d) => (d.spec.resources.limits.memory = 1024), path: 'spec.resources.limits.memory', message: /^must be a string$/ },
  { name: 'memory zero', change: (d) => (d.spec.resources.limits.memory = '0'), path: 'spec.resources.limits.memory', message: /more than 0/ },
  { name: 'memory too large', change: (d) => (d.spec.resources.limits.memory = '100000Ei'), path: 'spec.resources.limits.memory', message: /too large/ },
  { name: 'cpu not a quantity', change: (d) => (d.spec.resources.limits.cpu = 'lots'), path: 'spec.resources.limits.cpu', message: /quantity of CPUs/ },
  { name: 'cpu a fraction as a number', change: (d) => (d.spec.resources.limits.cpu = 1.5), path: 'spec.resources.limits.cpu', message: /integer or a string \(write a fraction as a string: "1.5"\)/ },
  { name: 'cpu a boolean', change: (d) => (d.spec.resources.limits.cpu = true), path: 'spec.resources.limits.cpu', message: /^must be an integer or a string$/ },
  { name: 'pids zero', change: (d) => (d.spec.resources.limits.pids = 0), path: 'spec.resources.limits.pids', message: /^must be >= 1$/ },
  { name: 'grace period negative', change: (d) => (d.spec.terminationGracePeriodSeconds = -1), path: 'spec.terminationGracePeriodSeconds', message: /^must be >= 0$/ },
  { name: 'grace period a string', change: (d) => (d.spec.terminationGracePeriodSeconds = '10s'), path: 'spec.terminationGracePeriodSeconds', message: /^must be an integer$/ },
  { name: 'mount target relative', change: (d) => (d.spec.mounts[1].target = 'tmp'), path: 'spec.mounts[1].target', message: /absolute path/ },
  { name: 'mount type unknown', change: (d) => (d.spec.mounts[0].type = 'volume'), path: 'spec.mounts[0].type', message: /^must be one of bind, tmpfs$/ },
  { name: 'bind mount without source', change: (d) => delete d.spec.mounts[0].source, path: 'spec.mounts[0].source', message: /required for a bind mount/ },
  { name: 'tmpfs mount with source', change: (d) => (d.spec.mounts[1].source = '/x'), path: 'spec.mounts[1].source', message: /only for bind mounts/ },
  { name: 'bind mount with sizeLimit', change: (d) => (d.spec.mounts[0].sizeLimit = '1Mi'), path: 'spec.mounts[0].sizeLimit', message: /only for tmpfs mounts/ },
  { name: 'two mounts on one target', change: (d) => (d.spec.mounts[1].target = '/data/'), path: 'spec.mounts[1].target', message: /mounts '\/data' again \(also spec\.mounts\[0\]\.target\)/ },
  { name: 'readOnly a string', change: (d) => (d.spec.mounts[0].readOnly = 'yes'), path: 'spec.mounts[0].readOnly', message: /^must be true or false$/ },
  { name: 'command not a list', change: (d) => (d.spec.command = '/bin/sh -c'), path: 'spec.command', message: /^must be a list$/ },
  { name: 'args item a number', change: (d) => (d.spec.args = ['a', 2]), path: 'spec.args[1]', message: /^must be a string$/ },
  { name: 'env value a number', change: (d) => (d.spec.env[0].value = 1), path: 'spec.env[0].value', message: /^must be a string$/ },
  { name: 'env name with =', change: (d) => (d.spec.env[0].name = 'A=B'), path: 'spec.env[0].name', message: /must not contain "="/ },
  { name: 'env name twice', change: (d) => d.spec.env.push({ name: 'GREETING' }), path: 'spec.env[1].name', message: /duplicate variable 'GREETING' \(also spec\.env\[0\]\.name\)/ },
  { name: 'workingDir relative', change: (d) => (d.spec.workingDir = 'srv'), path: 'spec.workingDir', message: /absolute path/ },
  { name: 'user a number', change: (d) => (d.spec.user = 1000), path: 'spec.user', message: /^must be a string$/ },
  { name: 'user malformed', change: (d) => (d.spec.user = '1000:1000:1'), path: 'spec.user', message: /uid\[:gid\]/ },
  { name: 'stopSignal unknown', change: (d) => (d.spec.stopSignal = 'SIGFOO'), path: 'spec.stopSignal', message: /unknown signal 'SIGFOO'/ },
  { name: 'stopSignal lowercase', change: (d) => (d.spec.stopSignal = 'sigterm'), path: 'spec.stopSignal', message: /signal name such as SIGTERM/ },
  { name: 'dependsOn itself', change: (d) => (d.spec.dependsOn = ['web']), path: 'spec.dependsOn[0]', message: /must not name the container itself/ },
  { name: 'dependsOn twice', change: (d) => (d.spec.dependsOn = ['db', 'db']), path: 'spec.dependsOn[1]', message: /lists 'db' twice/ },
  { name: 'dependsOn not a name', change: (d) => (d.spec.dependsOn = ['DB']), path: 'spec.dependsOn[0]', message: DNS },
  { name: 'healthCheck without a check', change: (d) => delete d.spec.healthCheck.exec, path: 'spec.healthCheck', message: /^must have exactly one of exec, httpGet, tcpSocket$/ },
  { name: 'healthCheck with two checks', change: (d) => (d.spec.network = 'host', d.spec.healthCheck.tcpSocket = { port: 80 }), path: 'spec.healthCheck', message: /^must have exactly one of exec, httpGet, tcpSocket$/ },
  { name: 'healthCheck httpGet with network none', change: (d) => (d.spec.network = 'none', delete d.spec.healthCheck.exec, d.spec.healthCheck.httpGet = { port: 80 }), path: 'spec.healthCheck.httpGet', message: /needs network host or bridge/ },
  { name: 'healthCheck tcpSocket without network (none)', change: (d) => (delete d.spec.network, delete d.spec.healthCheck.exec, d.spec.healthCheck.tcpSocket = { port: 80 }), path: 'spec.healthCheck.tcpSocket', message: /needs network host or bridge/ },
  { name: 'healthCheck httpGet port out of range', change: (d) => (d.spec.network = 'host', delete d.spec.healthCheck.exec, d.spec.healthCheck.httpGet = { port: 70000 }), path: 'spec.healthCheck.httpGet.port', message: /<= 65535/ },
  { name: 'healthCheck httpGet path relative', change: (d) => (d.spec.network = 'host', delete d.spec.healthCheck.exec, d.spec.healthCheck.httpGet = { port: 80, path: 'healthz' }), path: 'spec.healthCheck.httpGet.path', message: /starting with "\/"/ },
  { name: 'healthCheck startPeriodSeconds negative', change: (d) => (d.spec.healthCheck.startPeriodSeconds = -1), path: 'spec.healthCheck.startPeriodSeconds', message: />= 0/ },
  { name: 'healthCheck exec empty', change: (d) => (d.spec.healthCheck.exec = []), path: 'spec.healthCheck.exec', message: /at least 1 item$/ },
  { name: 'hostname too long', change: (d) => (d.spec.hostname = 'a'.repeat(64)), path: 'spec.hostname', message: /at most 63 characters/ },
  { name: 'nodeName not a subdomain', change: (d) => (d.spec.nodeName = 'Node_1'), path: 'spec.nodeName', message: /DNS-1123 subdomain/ },
  { name: 'label value a number', change: (d) => (d.metadata.labels.tier = 1), path: 'metadata.labels.tier', message: /^must be a string$/ },
  { name: 'label value with spaces', change: (d) => (d.metadata.labels.tier = 'front end'), path: 'metadata.labels.tier', message: /label value/ },
  { name: 'label key reserved', change: (d) => (d.metadata.labels['converge.dev/managed'] = 'false'), path: 'metadata.labels["converge.dev/managed"]', message: /reserved/ },
  { name: 'label key malformed', change: (d) => (d.metadata.labels['a/b/c'] = 'x'), path: 'metadata.labels["a/b/c"]', message: /must be a label key/ },
  { name: 'spec a list', change: (d) => (d.spec = []), path: 'spec', message: /^must be a mapping$/ },
];

for (const m of mistakes) {
  test(`mistake: ${m.name}`, () => {
    const issues = issuesAfter(m.change);
    assert.equal(issues.length, 1, `one issue expected, got ${JSON.stringify(issues)}`);
    assert.equal(issues[0].path, m.path);
    assert.match(issues[0].message, m.message);
  });
}

test('an unknown field is an error naming the field, with a suggestion for a typo', () => {
  const issues = issuesAfter((d) => {
    d.spec.imagePullPolicyy = d.spec.imagePullPolicy;
    delete d.spec.imagePullPolicy;
  });
  assert.deepEqual(issues, [
    { path: 'spec', message: "unknown field 'imagePullPolicyy' (did you mean 'imagePullPolicy'?)", linePath: 'spec.imagePullPolicyy' },
  ]);
  const far = issuesAfter((d) => (d.metadata.annotations = {}));
  assert.deepEqual(far, [{ path: 'metadata', message: "unknown field 'annotations'", linePath: 'metadata.annotations' }]);
  const deep = issuesAfter((d) => (d.spec.resources.limits.gpu = 1));
  assert.equal(deep[0].path, 'spec.resources.limits');
  assert.match(deep[0].message, /unknown field 'gpu'/);
});

test('a huge unknown key is reported without blocking: no edit distances are computed over it', { timeout: 2000 }, async () => {
  // validateDocument is synchronous: it runs in a worker, so that node:test's timeout can
  // fire while it works (an edit distance over 900 KB took seconds per known field).
  const schema = new URL('../../src/spec/schema.js', import.meta.url).href;
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(schema)}).then(({ validateDocument }) => {
       const huge = (c) => c.repeat(900000);
       const doc = { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', [huge('k')]: 1,
         metadata: { name: 'web', [huge('m')]: 1 }, spec: { image: 'busybox', [huge('s')]: 1 } };
       parentPort.postMessage(validateDocument(doc));
     });`,
    { eval: true },
  );
  worker.unref(); // a slow run must not keep the test process alive past the timeout
  const [issues] = (await once(worker, 'message')) as [SpecIssue[]];
  await worker.terminate();
  assert.deepEqual(issues.map((i) => i.path), ['', 'metadata', 'spec']);
  // Named by its first 100 characters, with no suggestion.
  for (const issue of issues) assert.match(issue.message, /^unknown field '([kms])\1{99}'…$/);
});

test('suggestions are for typos only: long words get none, and distances stop at the limit', () => {
  const known = ['imagePullPolicy', 'a'.repeat(66)];
  assert.equal(closest('imagePulPolicy', known), 'imagePullPolicy');
  assert.equal(closest('a'.repeat(65), known), undefined); // one edit away, but no typo is that long
  const reference = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    return d[a.length][b.length];
  };
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.integer({ min: 1, max: 25 }), (a, b, limit) => {
      assert.equal(boundedDistance(a, b, limit), Math.min(reference(a, b), limit));
    }),
    { seed: 8, numRuns: 300 },
  );
});

test('names must be DNS-1123 labels of 1-63 characters', () => {
  const good = ['a', 'web', 'web-1', '1web', 'a'.repeat(63), 'x0-y1'];
  const bad = ['', 'Web', 'web_1', '-web', 'web-', 'a'.repeat(64), 'web.1', 'wéb'];
  for (const name of good) {
    assert.deepEqual(issuesAfter((d) => (d.metadata.name = name), minimal), [], `name ${JSON.stringify(name)} should pass`);
    assert.deepEqual(issuesAfter((d) => (d.metadata.namespace = name), minimal), [], `namespace ${JSON.stringify(name)} should pass`);
  }
  for (const name of bad) {
    const byName = issuesAfter((d) => (d.metadata.name = name), minimal);
    assert.ok(byName.length > 0 && byName.every((i) => i.path === 'metadata.name'), `name ${JSON.stringify(name)}: ${JSON.stringify(byName)}`);
    const byNamespace = issuesAfter((d) => (d.metadata.namespace = name), minimal);
    assert.ok(byNamespace.length > 0 && byNamespace.every((i) => i.path === 'metadata.namespace'), `namespace ${JSON.stringify(name)}`);
  }
  assert.match(issuesAfter((d) => (d.metadata.name = 'Web'), minimal)[0].message, DNS);
});

test('several mistakes are all reported, each with its own path', () => {
  const issues = issuesAfter((d) => {
    d.spec.restartPolicy = 'Sometimes';
    d.spec.mounts[1].target = 'tmp';
    d.metadata.name = 'Web';
  });
  assert.deepEqual(issues.map((i) => i.path).sort(), ['metadata.name', 'spec.mounts[1].target', 'spec.restartPolicy']);
});

test('documents that are not mappings are refused as such', () => {
  for (const doc of ['text', 42, [1, 2], null]) {
    assert.deepEqual(validateDocument(doc), [{ path: '', message: 'must be a mapping (a Container document)' }]);
  }
});

test('cpu takes integers and quantity strings', () => {
  for (const cpu of [1, 2, '500m', '1.5', '0.25']) {
    assert.deepEqual(issuesAfter((d) => (d.spec.resources.limits.cpu = cpu)), [], `cpu ${JSON.stringify(cpu)}`);
  }
});

test('the quantity patterns of the schema are those of quantity.ts', () => {
  const schema = loadSchema() as Doc;
  const spec = schema.properties.spec.properties;
  assert.equal(spec.resources.properties.limits.properties.memory.pattern, MEMORY_PATTERN);
  assert.equal(spec.resources.properties.limits.properties.cpu.pattern, CPU_PATTERN);
  assert.equal(spec.mounts.items.properties.sizeLimit.pattern, MEMORY_PATTERN);
  assert.equal(spec.ports.items.properties.hostIP.pattern, IPV4_PATTERN);
});

/** The rules of a Kubernetes structural schema (DESIGN.md), except additionalProperties: false, which the CRD generator drops. */
function structuralViolations(node: Doc, at: string, inValueCheck = false): string[] {
  const out: string[] = [];
  const forbidden = ['$ref', '$schema', '$id', 'definitions', '$defs', 'const', 'if', 'then', 'else', 'patternProperties', 'dependencies', 'additionalItems', 'propertyNames'];
  for (const k of forbidden) if (k in node) out.push(`${at}: ${k}`);
  if (node.uniqueItems === true) out.push(`${at}: uniqueItems`);
  if (inValueCheck) {
    if ('default' in node) out.push(`${at}: default inside a value check`);
  } else if (!('type' in node) && node['x-kubernetes-int-or-string'] !== true && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.push(`${at}: no type`);
  }
  if (node.properties && node.additionalProperties && node.additionalProperties !== false) out.push(`${at}: additionalProperties beside properties`);
  for (const [k, child] of Object.entries((node.properties ?? {}) as Record<string, Doc>)) out.push(...structuralViolations(child, `${at}.${k}`));
  if (node.items) out.push(...structuralViolations(node.items, `${at}[]`));
  if (typeof node.additionalProperties === 'object') out.push(...structuralViolations(node.additionalProperties, `${at}{}`));
  // A string-or-object node (dependsOn's items) is kept untyped in the CRD, which drops its
  // anyOf of forms: converge checks the forms, the API server keeps what was written.
  const formsForConverge = node['x-kubernetes-preserve-unknown-fields'] === true && !('type' in node);
  for (const comb of formsForConverge ? [] : ['allOf', 'anyOf', 'oneOf']) {
    for (const [i, branch] of ((node[comb] ?? []) as Doc[]).entries()) {
      // The one exception Kubernetes makes: int-or-string is anyOf [{type: integer}, {type: string}].
      const intOrString = node['x-kubernetes-int-or-string'] === true && comb === 'anyOf' &&
        JSON.stringify(node.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
      if ('type' in branch && !intOrString) out.push(`${at}.${comb}[${i}]: type inside a value check`);
      out.push(...structuralViolations(branch, `${at}.${comb}[${i}]`, true));
    }
  }
  if (node.not) out.push(...structuralViolations(node.not, `${at}.not`, true));
  return out;
}

test('the schema file keeps to the rules of a Kubernetes structural schema', () => {
  const schema = loadSchema() as Doc;
  assert.deepEqual(structuralViolations(schema, '$'), []);
  // The checker itself catches what it should.
  assert.deepEqual(structuralViolations({ type: 'object', properties: { a: { const: 1 } } }, '$'), ['$.a: const', '$.a: no type']);
});

test('namespace and name together fit containerd\'s 76-character ID limit', () => {
  const name = 'n'.repeat(63);
  const issues = validateDocument(containerDoc(name, {}, { namespace: 'team-a-long-namespace' }));
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, 'metadata.name');
  assert.match(issues[0].message, /at most 75 characters/);
  assert.deepEqual(validateDocument(containerDoc(name)), []);
});
