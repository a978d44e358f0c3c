// A real Kubernetes control plane for the Kubernetes source's tests: etcd and kube-apiserver
// (built by scripts/build-tools.sh kube) on 127.0.0.1, one per test file, in a temp dir:
// free ports, a self-signed serving certificate, a service-account signing key, RBAC, and a
// token file with the test's admin (group system:masters). Nothing else of a cluster runs:
// no scheduler, no controller manager, no kubelet.
//
// Both are stopped by PID in cleanup(), and by the exit net when the test process dies of a
// signal; a test process killed outright (SIGKILL) leaves a record in PROCS_DIR that the next
// start sweeps: it kills what is still running of a dead test process and removes its dir.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HarnessError, run } from './exec.js';
import { register, unregister } from './exitnet.js';
import { ETCD, ETCDCTL, KUBE_APISERVER, Kubectl, requireKubeTools } from './kube-tools.js';
import { freePort } from './net.js';
import { isAlive, signal } from './procfs.js';
import { waitFor } from './wait.js';

/** Records of the running control planes, one file per cluster: {owner, pids, dir}. */
const PROCS_DIR = path.join(os.tmpdir(), 'converge-kube-procs');
const STOP_TIMEOUT_MS = 15_000;

interface ProcRecord {
  owner: number;
  pids: number[];
  dir: string;
}

/**
 * Kills the control planes of test processes that are gone (only processes whose program is
 * our kube-apiserver or etcd: a reused pid is left alone), and removes their dirs.
 */
export function sweepLeftovers(procsDir = PROCS_DIR): void {
  let files: string[] = [];
  try {
    files = readdirSync(procsDir);
  } catch {
    return;
  }
  for (const f of files) {
    const file = path.join(procsDir, f);
    let rec: ProcRecord;
    try {
      rec = JSON.parse(readFileSync(file, 'utf8')) as ProcRecord;
    } catch {
      continue; // being written
    }
    if (isAlive(rec.owner)) continue;
    for (const pid of rec.pids) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      } catch {
        continue; // gone
      }
      if (cmd === KUBE_APISERVER || cmd === ETCD) signal(pid, 'SIGKILL');
    }
    rmSync(rec.dir, { recursive: true, force: true });
    rmSync(file, { force: true });
  }
}

/** One daemon: spawned with its output in a log file, stopped by its PID. */
class Daemon {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly name: string, readonly bin: string, readonly args: string[], readonly logPath: string) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    const fd = openSync(this.logPath, 'a');
    try {
      const child = spawn(this.bin, this.args, { stdio: ['ignore', fd, fd] });
      this.child = child;
      this.exited = new Promise((resolve) => child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      }));
    } finally {
      closeSync(fd);
    }
  }

  /** Why a start-up wait can stop: the daemon exited. */
  gone(): Error | undefined {
    return this.child ? undefined : new HarnessError('HARNESS_KUBE_NOT_READY', `${this.name} exited during start-up:\n${this.tail()}`);
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL if it takes longer than STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = new AbortController();
    const late = delay(STOP_TIMEOUT_MS, true, { signal: timer.signal }).catch(() => false);
    const killed = await Promise.race([this.exited.then(() => false), late]);
    timer.abort();
    if (killed) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  killSync(): void {
    this.child?.kill('SIGKILL');
  }

  /** Resident memory in KiB (0 when not running). */
  rssKiB(): number {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }
}

/** What the API server's audit log records of one request (the fields the tests read). */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; name?: string; namespace?: string };
  responseStatus?: { code?: number };
}

/**
 * Audit: the metadata of every request about Containers and Events (who, what, which
 * answer), so tests can check what converge asked the server and what it answered.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources: [{group: converge.dev}, {group: "", resources: [events]}]
  - level: None
`;

export interface HttpAnswer {
  status: number;
  body: string;
}

export class KubeCluster {
  readonly admin: Kubectl;
  readonly adminKubeconfig: string;
  private readonly record: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly etcdPort: number,
    readonly ca: string,
    private readonly adminToken: string,
    private readonly etcd: Daemon,
    private readonly apiserver: Daemon,
  ) {
    this.adminKubeconfig = this.kubeconfig('admin', adminToken);
    this.admin = new Kubectl(this.adminKubeconfig);
    this.record = path.join(PROCS_DIR, `${process.pid}-${path.basename(dir)}.json`);
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Starts etcd and kube-apiserver and waits until the API server is ready. */
  static async start(): Promise<KubeCluster> {
    requireKubeTools();
    sweepLeftovers();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-kube-'));
    const [etcdPort, peerPort, port] = [await freePort(), await freePort(), await freePort()];
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(path.join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=converge-test-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', path.join(dir, 'serving.key'), '-out', path.join(dir, 'serving.crt'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path.join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(path.join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(path.join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = new Daemon('etcd', ETCD, [
      '--name=test', `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=test=${peerUrl}`,
      '--unsafe-no-fsync', '--log-level=warn',
    ], path.join(dir, 'etcd.log'));
    const apiserver = new Daemon('kube-apiserver', KUBE_APISERVER, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
      `--tls-cert-file=${path.join(dir, 'serving.crt')}`, `--tls-private-key-file=${path.join(dir, 'serving.key')}`,
      `--cert-dir=${path.join(dir, 'certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--authorization-mode=RBAC', `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      // The kubernetes Service's endpoints would be 127.0.0.1, which the API refuses.
      '--endpoint-reconciler-type=none',
      `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`, `--audit-log-path=${path.join(dir, 'audit.log')}`,
      '--audit-log-mode=blocking',
      '--profiling=false',
    ], path.join(dir, 'apiserver.log'));
    const cluster = new KubeCluster(dir, port, etcdPort, readFileSync(path.join(dir, 'serving.crt'), 'utf8'), adminToken, etcd, apiserver);
    register(cluster);
    try {
      etcd.start();
      cluster.writeRecord();
      await waitFor(async () => JSON.parse((await cluster.http(`${etcdUrl}/health`)).body).health === 'true', {
        what: 'etcd to be healthy', timeoutMs: 60_000, abandon: () => etcd.gone(), detail: () => etcd.tail(),
      });
      await cluster.startApiserver();
    } catch (err) {
      await cluster.cleanup().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  /** Starts kube-apiserver (again) and waits for /readyz and the default namespace. */
  async startApiserver(): Promise<void> {
    if (this.apiserver.running) return;
    this.apiserver.start();
    this.writeRecord();
    await waitFor(async () => (await this.get('/readyz')).status === 200 && (await this.get('/api/v1/namespaces/default')).status === 200, {
      what: 'kube-apiserver to be ready',
      timeoutMs: 180_000,
      intervalMs: 250,
      abandon: () => this.apiserver.gone(),
      detail: () => this.apiserver.tail(),
      timeoutError: (message) => new HarnessError('HARNESS_KUBE_NOT_READY', message),
    });
  }

  /** Stops kube-apiserver (SIGTERM, by its PID); etcd keeps running. */
  async stopApiserver(): Promise<void> {
    await this.apiserver.stop();
    this.writeRecord();
  }

  /** Resident memory of the two daemons, in KiB. */
  rssKiB(): { apiserver: number; etcd: number } {
    return { apiserver: this.apiserver.rssKiB(), etcd: this.etcd.rssKiB() };
  }

  /** The API server's log (its stderr), for a failure's detail. */
  apiserverLog(lines = 50): string {
    return this.apiserver.tail(lines);
  }

  /** The audit log so far: every request about Containers and Events, in order. */
  audit(): AuditEvent[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.dir, 'audit.log'), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
  }

  /** Writes a kubeconfig for a bearer token into the cluster's dir; returns its path. */
  kubeconfig(name: string, token: string, port = this.port): string {
    const file = path.join(this.dir, 'users', name, 'kubeconfig');
    mkdirSync(path.dirname(file), { recursive: true });
    const ca = Buffer.from(this.ca).toString('base64');
    writeFileSync(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: test', 'preferences: {}',
      'clusters:', `- name: test`, `  cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: "${ca}"}`,
      'users:', `- name: ${name}`, `  user: {token: "${token}"}`,
      'contexts:', `- name: test`, `  context: {cluster: test, user: ${name}}`, '',
    ].join('\n'), { mode: 0o600 });
    return file;
  }

  /** etcd's current revision: the resourceVersion of the newest write. */
  async etcdRevision(): Promise<number> {
    const { stdout } = await run(ETCDCTL, [`--endpoints=127.0.0.1:${this.etcdPort}`, 'endpoint', 'status', '-w', 'json']);
    return Number((JSON.parse(stdout) as { Status: { header: { revision: number } } }[])[0].Status.header.revision);
  }

  /** Compacts etcd's history up to `revision` (default: the current one), with etcdctl. */
  async compact(revision?: number): Promise<number> {
    const rev = revision ?? (await this.etcdRevision());
    await run(ETCDCTL, [`--endpoints=127.0.0.1:${this.etcdPort}`, 'compaction', String(rev), '--physical']);
    return rev;
  }

  /** A GET on the API server as the admin. */
  get(apiPath: string): Promise<HttpAnswer> {
    return this.http(this.url + apiPath, this.adminToken);
  }

  private http(url: string, token?: string): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = (u.protocol === 'https:' ? https : http)
        .request(u, { ca: this.ca, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: 5_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body })).on('error', reject);
        });
      req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`))).on('error', reject).end();
    });
  }

  private writeRecord(): void {
    mkdirSync(PROCS_DIR, { recursive: true });
    const rec: ProcRecord = { owner: process.pid, pids: [this.etcd.pid, this.apiserver.pid].filter((p) => p > 0), dir: this.dir };
    writeFileSync(this.record, JSON.stringify(rec));
  }

  /** Stops both by PID (the API server first) and removes the dir. */
  async cleanup(): Promise<void> {
    try {
      await this.apiserver.stop();
      await this.etcd.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
      rmSync(this.record, { force: true });
      unregister(this);
    }
  }

  /** For the exit net: no awaits possible, so kill rather than ask. */
  cleanupSync(): void {
    this.apiserver.killSync();
    this.etcd.killSync();
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.record, { force: true });
  }
}
