// The local clone of the Git source: a bare repository under the state dir that fetches the
// followed ref (shallow, depth 1, where the transport allows it) and reads trees and blobs
// straight from its object store. There is no working tree: "reset to the fetched commit"
// is a forced update of refs/converge/fetched, so a force-push or a rewind is just the next
// commit to read. The remote URL is handed to git through GIT_CONFIG_* variables, so a URL
// with credentials is written neither to the clone's config nor to a command line.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../clock.js';
import { GitError, runGit, runProgram } from './exec.js';

export const FETCHED_REF = 'refs/converge/fetched';
export const GOOD_REF = 'refs/converge/good';

export interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size: number;
  /** Path from the repository root. */
  path: string;
}

export interface CloneOptions {
  dir: string;
  url: string;
  redact: (text: string) => string;
  fetchTimeoutMs: number;
  /** Deadline of local commands (ls-tree, cat-file, verify-commit). */
  localTimeoutMs?: number;
  signal?: AbortSignal;
  /** Runs the deadlines. Default systemClock. */
  clock?: Clock;
}

export type Verification = { ok: true; signer: string } | { ok: false; reason: string };

export class LocalClone {
  /** False once the transport said it cannot do shallow fetches (dumb HTTP). */
  private shallow = true;

  constructor(private readonly opts: CloneOptions) {}

  get dir(): string {
    return this.opts.dir;
  }

  private git(args: string[], extra: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}) {
    return runGit(args, {
      gitDir: this.opts.dir,
      env: extra.env,
      input: extra.input,
      timeoutMs: extra.timeoutMs ?? this.opts.localTimeoutMs ?? 30_000,
      signal: this.opts.signal,
      redact: this.opts.redact,
      clock: this.opts.clock,
    });
  }

  /** Creates the bare repository when it is not there yet. */
  async ensure(): Promise<void> {
    if (existsSync(join(this.opts.dir, 'HEAD'))) return;
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    await runGit(['init', '--quiet', '--bare', this.opts.dir], { timeoutMs: 30_000, redact: this.opts.redact, signal: this.opts.signal, clock: this.opts.clock });
  }

  /** Fetches `ref` from the remote and returns the commit it points to now. */
  async fetch(ref: string): Promise<string> {
    const env = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'remote.origin.url', GIT_CONFIG_VALUE_0: this.opts.url };
    const run = (shallow: boolean) =>
      this.git(['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', ...(shallow ? ['--depth', '1'] : []), 'origin', `+${ref}:${FETCHED_REF}`], {
        env,
        timeoutMs: this.opts.fetchTimeoutMs,
      });
    try {
      await run(this.shallow);
    } catch (err) {
      if (!(this.shallow && err instanceof GitError && /shallow/i.test(err.stderr))) throw err;
      this.shallow = false; // e.g. the dumb HTTP transport: fetch the whole history instead
      await run(false);
    }
    return this.resolve(FETCHED_REF);
  }

  /** The commit a ref names, or throws. */
  async resolve(ref: string): Promise<string> {
    const { stdout } = await this.git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return stdout.toString('utf8').trim();
  }

  /** The commit a ref names, or undefined when the ref does not exist. */
  async tryResolve(ref: string): Promise<string | undefined> {
    try {
      return await this.resolve(ref);
    } catch (err) {
      if (err instanceof GitError && err.code === 'GIT_FAILED') return undefined;
      throw err;
    }
  }

  async setRef(ref: string, commit: string): Promise<void> {
    await this.git(['update-ref', ref, commit]);
  }

  /**
   * Every blob under `path` at `commit` (recursively; "" is the whole tree), or undefined when
   * the path does not exist in that commit.
   */
  async listFiles(commit: string, path: string): Promise<TreeEntry[] | undefined> {
    const args = ['ls-tree', '-r', '-l', '-z', '--full-tree', commit];
    if (path !== '') args.push('--', path);
    const { stdout } = await this.git(args, { env: { GIT_LITERAL_PATHSPECS: '1' } });
    const entries: TreeEntry[] = [];
    for (const record of stdout.toString('utf8').split('\0')) {
      if (record === '') continue;
      const tab = record.indexOf('\t');
      const [mode, type, oid, size] = record.slice(0, tab).split(/ +/);
      entries.push({ mode, type, oid, size: size === '-' ? 0 : Number(size), path: record.slice(tab + 1) });
    }
    if (entries.length === 0 && path !== '') {
      try {
        await this.git(['cat-file', '-e', `${commit}:${path}`], { env: { GIT_LITERAL_PATHSPECS: '1' } });
      } catch (err) {
        if (err instanceof GitError && err.code === 'GIT_FAILED') return undefined;
        throw err;
      }
    }
    return entries;
  }

  /** The contents of blobs by object id, read in one `git cat-file --batch`. */
  async readBlobs(oids: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if (oids.length === 0) return out;
    const { stdout } = await this.git(['cat-file', '--batch'], { input: oids.map((o) => `${o}\n`).join('') });
    let at = 0;
    for (const oid of oids) {
      const nl = stdout.indexOf(0x0a, at);
      if (nl < 0) throw new GitError('GIT_FAILED', `git cat-file: output ends before ${oid}`);
      const header = stdout.subarray(at, nl).toString('utf8').split(' ');
      if (header[1] === 'missing' || header.length < 3) throw new GitError('GIT_FAILED', `git cat-file: object ${oid} is missing`);
      const size = Number(header[2]);
      out.set(oid, stdout.subarray(nl + 1, nl + 1 + size));
      at = nl + 1 + size + 1; // the content is followed by a newline
    }
    return out;
  }

  /** `git verify-commit` against the keyring loaded into `gnupgHome` (see loadKeyring). */
  async verifyCommit(commit: string, gnupgHome: string): Promise<Verification> {
    try {
      const { stdout, stderr } = await this.git(['verify-commit', '--raw', commit], { env: { GNUPGHOME: gnupgHome } });
      const status = stdout.toString('utf8') + stderr;
      const good = /\[GNUPG:\] VALIDSIG ([0-9A-F]+)/.exec(status);
      return { ok: true, signer: good?.[1] ?? 'unknown' };
    } catch (err) {
      if (!(err instanceof GitError) || err.code !== 'GIT_FAILED') throw err;
      return { ok: false, reason: signatureProblem(err.stderr) };
    }
  }
}

function signatureProblem(status: string): string {
  if (/NO_PUBKEY/.test(status)) return 'signed by a key that is not in the keyring';
  if (/BADSIG/.test(status)) return 'its signature does not match its contents';
  if (/EXPKEYSIG|EXPSIG/.test(status)) return 'signed by an expired key or with an expired signature';
  if (/REVKEYSIG/.test(status)) return 'signed by a revoked key';
  if (!/NEWSIG|GOODSIG|ERRSIG/.test(status)) return 'the commit is not signed';
  return 'its signature could not be verified';
}

/**
 * A private GnuPG home holding only the keys of `keyring` (an exported public keyring,
 * binary or armored), made anew on every start so the file is the only truth. It never starts
 * a gpg-agent (no-autostart): verifying needs none. Returns how many keys it holds.
 */
export async function loadKeyring(home: string, keyring: string, run: { signal?: AbortSignal; clock?: Clock } = {}): Promise<number> {
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(join(home, 'gpg.conf'), 'no-autostart\n', { mode: 0o600 });
  await readFile(keyring); // a clear error when the file is missing, before gpg's own
  const { stdout } = await runProgram('gpg', ['--batch', '--no-tty', '--homedir', home, '--status-fd', '1', '--import', keyring], {
    timeoutMs: 30_000,
    redact: (t) => t,
    ...run,
  });
  return stdout.toString('utf8').split('\n').filter((l) => l.startsWith('[GNUPG:] IMPORT_OK')).length;
}
