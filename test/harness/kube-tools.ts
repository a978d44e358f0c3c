// Where the Kubernetes test tools are: kube-apiserver, kubectl, etcd and etcdctl, built by
// scripts/build-tools.sh kube from the modules tools/kube and tools/etcd into
// .tools/<name>-<version>/bin (the versions are the ones those go.mod files pin). A test
// that needs them and finds them missing fails with what to run, and says so when Go, which
// builds them, is missing too: it never skips.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HarnessError } from './exec.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** The version tools/<dir>/go.mod requires of `module`. */
export function pinnedVersion(dir: string, module: string): string {
  const gomod = readFileSync(path.join(ROOT, 'tools', dir, 'go.mod'), 'utf8');
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(gomod);
  if (!m) throw new Error(`tools/${dir}/go.mod requires no ${module}`);
  return m[1];
}

export const KUBE_VERSION = pinnedVersion('kube', 'k8s.io/kubernetes');
export const ETCD_VERSION = pinnedVersion('etcd', 'go.etcd.io/etcd/server/v3');
export const KUBE_BIN = path.join(ROOT, '.tools', `kubernetes-${KUBE_VERSION}`, 'bin');
export const ETCD_BIN = path.join(ROOT, '.tools', `etcd-${ETCD_VERSION}`, 'bin');
export const KUBE_APISERVER = path.join(KUBE_BIN, 'kube-apiserver');
export const KUBECTL = path.join(KUBE_BIN, 'kubectl');
export const ETCD = path.join(ETCD_BIN, 'etcd');
export const ETCDCTL = path.join(ETCD_BIN, 'etcdctl');

function goInstalled(): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/go/bin'];
  return dirs.some((d) => d && existsSync(path.join(d, 'go')));
}

/** Throws, naming what is missing and what builds it, unless every tool is there. */
export function requireKubeTools(): void {
  const missing = [KUBE_APISERVER, KUBECTL, ETCD, ETCDCTL].filter((f) => !existsSync(f));
  if (missing.length === 0) return;
  const go = goInstalled()
    ? 'run scripts/build-tools.sh kube (scripts/setup.sh does) to build them from their Go modules'
    : 'Go is not installed, and it builds them: install Go (https://go.dev/dl/, or /usr/local/go), then run scripts/build-tools.sh kube';
  throw new HarnessError('HARNESS_KUBE_TOOLS_MISSING', `the Kubernetes tests need ${missing.map((f) => path.relative(ROOT, f)).join(', ')}: ${go}`);
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The built kubectl with one kubeconfig and a discovery cache of its own, so tests never
 * share (or trust) a stale cache; HOME points next to the kubeconfig so nothing of the
 * user's ~/.kube is read.
 */
export class Kubectl {
  constructor(readonly kubeconfig: string, readonly cacheDir: string = path.join(path.dirname(kubeconfig), 'kube-cache')) {}

  /** Runs kubectl to its end; never rejects on a non-zero exit. */
  run(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        KUBECTL,
        ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, ...args],
        { timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: { ...process.env, HOME: path.dirname(this.kubeconfig), KUBECONFIG: '' } },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') return reject(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${stderr}`));
          resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** Runs kubectl and returns stdout; throws with its stderr on a non-zero exit. */
  async ok(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Runs kubectl expecting it to fail; returns its stderr. */
  async fails(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code === 0) throw new Error(`kubectl ${args.join(' ')} succeeded, expected a failure: ${r.stdout.trim()}`);
    return r.stderr;
  }

  /** `kubectl get -o json` of one object, or undefined when it does not exist. */
  async json(kind: string, name: string, namespace = 'default'): Promise<any> {
    const r = await this.run(['get', kind, name, '-n', namespace, '-o', 'json']);
    if (r.code !== 0) {
      if (/NotFound|not found/.test(r.stderr)) return undefined;
      throw new Error(`kubectl get ${kind} ${name}: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout);
  }
}
