// A real kubectl against the test API server: Debian's kubernetes-client (1.20), found as
// $KUBECTL, /usr/bin/kubectl.debian (where scripts/setup.sh diverted it because another
// package owns /usr/bin/kubectl) or kubectl on the PATH. Each Kubectl has its own
// kubeconfig and discovery cache, so tests never share (or trust) a stale cache.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const KUBECTL = process.env.KUBECTL ?? (existsSync('/usr/bin/kubectl.debian') ? '/usr/bin/kubectl.debian' : 'kubectl');

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Kubectl {
  constructor(readonly kubeconfig: string, readonly cacheDir: string = path.join(path.dirname(kubeconfig), 'kube-cache')) {}

  /** Runs kubectl to its end; never rejects on a non-zero exit. */
  run(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        KUBECTL,
        ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, ...args],
        { timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL', env: { ...process.env, HOME: path.dirname(this.kubeconfig) } },
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
