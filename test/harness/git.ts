// Real Git for the Git source's tests: a bare repository in a temp dir with a working clone to
// commit and (force-)push from, `git daemon` serving it on 127.0.0.1 at a free port (stopped
// and started again on the same port), and a throwaway GnuPG key to sign commits with. Nothing
// outlives the test process: daemons and gpg-agents are killed by the exit net.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { register, unregister } from './exitnet.js';
import { connects, freePort } from './net.js';
import { waitFor } from './wait.js';

const IDENTITY = ['-c', 'user.name=converge test', '-c', 'user.email=test@converge.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main'];

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...extra };
  for (const v of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_CONFIG_COUNT']) delete env[v];
  return env;
}

/** Runs git (or gpg) in `cwd`; rejects with its stderr on a non-zero exit or after 30 s. */
export function runTool(file: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { cwd: opts.cwd, env: cleanEnv(opts.env), timeout: 30_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message.trim()}\n${stderr}`));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export interface Signer {
  /** An exported public keyring holding only this key, for --git-verify-commits. */
  readonly keyring: string;
  readonly fingerprint: string;
  readonly home: string;
}

export interface CommitOptions {
  message?: string;
  /** Sign the commit with this key. */
  signer?: Signer;
}

export class GitRepo {
  readonly bare: string;
  readonly work: string;
  readonly branch = 'main';

  private constructor(readonly root: string) {
    this.bare = path.join(root, 'srv', 'repo.git');
    this.work = path.join(root, 'work');
  }

  /** A bare repository (served from <root>/srv) and a working clone of it. */
  static async create(root?: string): Promise<GitRepo> {
    const repo = new GitRepo(root ?? mkdtempSync(path.join(os.tmpdir(), 'converge-git-')));
    mkdirSync(path.dirname(repo.bare), { recursive: true });
    await runTool('git', [...IDENTITY, 'init', '--quiet', '--bare', '-b', repo.branch, repo.bare]);
    await runTool('git', [...IDENTITY, 'init', '--quiet', '-b', repo.branch, repo.work]);
    await repo.git(['remote', 'add', 'origin', repo.bare]);
    return repo;
  }

  get fileUrl(): string {
    return `file://${this.bare}`;
  }

  /** Where `git daemon` finds it: its base path and the path under it. */
  get served(): { base: string; name: string } {
    return { base: path.dirname(this.bare), name: path.basename(this.bare) };
  }

  git(args: string[], env?: Record<string, string>): Promise<string> {
    return runTool('git', [...IDENTITY, ...args], { cwd: this.work, env });
  }

  /** Writes (string) or deletes (null) files in the working tree and commits them; returns the commit. */
  async commit(files: Record<string, string | Buffer | null>, opts: CommitOptions = {}): Promise<string> {
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(this.work, rel);
      if (content === null) {
        if (existsSync(file)) unlinkSync(file);
      } else {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content);
      }
    }
    await this.git(['add', '--all']);
    const sign = opts.signer ? ['-c', `user.signingkey=${opts.signer.fingerprint}`, 'commit', '-S'] : ['commit'];
    await this.git([...sign, '--quiet', '--allow-empty', '-m', opts.message ?? 'change'], opts.signer ? { GNUPGHOME: opts.signer.home } : undefined);
    return this.head();
  }

  async head(): Promise<string> {
    return (await this.git(['rev-parse', 'HEAD'])).trim();
  }

  /** Pushes the branch to the bare repository (force: a rewrite of history). */
  async push(opts: { force?: boolean } = {}): Promise<void> {
    await this.git(['push', '--quiet', ...(opts.force ? ['--force'] : []), 'origin', `${this.branch}:${this.branch}`]);
  }

  /** Moves the working branch to `rev` (then push({force: true}) rewinds the remote). */
  async reset(rev: string): Promise<void> {
    await this.git(['reset', '--quiet', '--hard', rev]);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** `git daemon` serving one base path (read-only, every repository exported) on 127.0.0.1. */
export class GitDaemon {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly net = { cleanupSync: () => this.killGroup('SIGKILL') };

  private constructor(readonly base: string, readonly port: number) {}

  static async start(base: string): Promise<GitDaemon> {
    const d = new GitDaemon(base, await freePort());
    register(d.net);
    await d.start();
    return d;
  }

  url(name: string): string {
    return `git://127.0.0.1:${this.port}/${name}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private killGroup(sig: NodeJS.Signals): void {
    try {
      if (this.child?.pid) process.kill(-this.child.pid, sig); // the daemon and the children serving connections
    } catch {
      // gone
    }
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn('git', ['daemon', '--reuseaddr', '--listen=127.0.0.1', `--port=${this.port}`, `--base-path=${this.base}`, '--export-all', '--informative-errors'], {
      env: cleanEnv(),
      stdio: 'ignore',
      detached: true,
    });
    child.unref();
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    await waitFor(() => connects(this.port), {
      what: `git daemon to listen on 127.0.0.1:${this.port}`,
      timeoutMs: 10_000,
      abandon: () => (this.child === child ? undefined : new Error(`git daemon exited at start (port ${this.port} taken?)`)),
    });
  }

  /** Stops it; the port refuses connections afterwards. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.killGroup('SIGTERM');
    await Promise.race([this.exited, delay(5_000)]);
    this.killGroup('SIGKILL');
    await this.exited;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    unregister(this.net);
  }
}

/** A fresh GnuPG key (ed25519, no passphrase) in its own home, and its public keyring file. */
export async function createSigner(dir: string, name = 'Converge Signer'): Promise<Signer & { cleanup(): Promise<void> }> {
  const home = path.join(dir, `gnupg-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  const kill = () => runTool('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
  const net = { cleanupSync: () => void spawn('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' }) };
  register(net);
  await runTool('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <signer@converge.invalid>`, 'ed25519', 'sign', 'never'], { env });
  const colons = await runTool('gpg', ['--batch', '--with-colons', '--list-keys'], { env });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in gpg output:\n${colons}`);
  const keyring = path.join(dir, `${path.basename(home)}.pub.gpg`);
  await runTool('gpg', ['--batch', '--output', keyring, '--export', fingerprint], { env });
  return {
    home,
    keyring,
    fingerprint,
    async cleanup() {
      await kill();
      unregister(net);
    },
  };
}
