// `converge validate PATH...`: checks spec files (and the spec files of directories, picked
// by name as the directory source picks them), prints every problem and a summary. Exit code
// 0 when everything is valid, 1 on any problem, 2 when there is nothing to check. A path or
// entry that is not a regular file (a FIFO, a device) is a problem: readSpecFile refuses it
// on the open handle, so it is reported at once and never waited on.
//
// With --policy FILE (or --source alone, against the defaults) the specs also meet the
// policy, as if `--source` had read them (default: the directory source of each file's
// directory; "git:URL" or "kube" to check what a repository or the cluster would be
// allowed), and each denial is a problem.

import { readdirSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dirname, join, relative, resolve } from 'node:path';
import { cycleProblems } from '../spec/deps.js';
import type { DesiredContainer, Key, Problem } from '../spec/types.js';
import { fileProblem, formatProblem, loadFile, readSpecFile } from '../spec/load.js';
import { isSpecFile } from '../sources/directory.js';
import { admit } from '../policy/gate.js';
import type { Policy } from '../policy/types.js';
import { loadPolicyFile } from '../policy/file.js';
import { DEFAULT_POLICY } from '../policy/gate.js';
import { COMMON } from './common.js';
import { UsageError } from './usage.js';

export interface ValidateOptions {
  /** Check the specs against this policy too. */
  policy?: Policy;
  /** The source the files are checked as coming from ("git:URL", "kube", "dir:DIR"). */
  source?: string;
}

/** The origin and source a file's spec would have, read by `as`. */
function originOf(file: string, spec: DesiredContainer, as: string | undefined, base: string): { origin: string; source: string } {
  if (as === undefined || as.startsWith('dir:')) {
    return { origin: `dir:${resolve(file)}`, source: as ?? `dir:${dirname(resolve(file))}` };
  }
  if (as === 'kube' || as.startsWith('kube:')) return { origin: `kube:${spec.key}`, source: 'kube' };
  return { origin: `${as}:${relative(base, resolve(file))}`, source: as };
}

function policyProblems(file: string, specs: DesiredContainer[], opts: ValidateOptions, base: string): Problem[] {
  if (!opts.policy) return [];
  return specs.flatMap((spec) => {
    const { origin, source } = originOf(file, spec, opts.source, base);
    const a = admit(opts.policy!, { ...spec, origin }, source);
    return a.ok ? [] : a.problems.map((p) => ({ ...p, file }));
  });
}

/** `converge validate` from its arguments. */
export async function validateMain(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: COMMON.help, policy: { type: 'string' }, source: { type: 'string' } },
  });
  if (positionals.length === 0) throw new UsageError('expected at least one PATH (a spec file or a directory of them)');
  const policy = values.policy ? await loadPolicyFile(values.policy) : values.source ? DEFAULT_POLICY : undefined;
  return validateCommand(positionals, process.stdout, { policy, source: values.source });
}

export async function validateCommand(paths: string[], out: NodeJS.WritableStream, opts: ValidateOptions = {}): Promise<number> {
  if (paths.length === 0) {
    out.write('usage: converge validate PATH...  (spec files or directories of them)\n');
    return 2;
  }
  const problems: Problem[] = [];
  const files: string[] = [];
  // Paths in a repository are relative to the first directory named (its root, as --git-path is).
  const base = resolve(paths.find((p) => { try { return statSync(p).isDirectory(); } catch { return false; } }) ?? '.');
  for (const path of paths) {
    try {
      if (statSync(path).isDirectory()) {
        const entries = readdirSync(path, { withFileTypes: true });
        const names = entries.filter((e) => !e.isDirectory() && isSpecFile(e.name)).map((e) => e.name).sort();
        files.push(...names.map((name) => join(path, name)));
      } else {
        files.push(path); // named on purpose: checked whatever its name
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push({ file: path, path: '', message: code === 'ENOENT' ? 'does not exist' : `cannot read (${code ?? String(err)})` });
    }
  }

  // The same key in two files is a conflict the controller would report too: the first wins.
  const firstFile = new Map<Key, string>();
  const accepted: DesiredContainer[] = [];
  let containers = 0;
  for (const file of files) {
    let result;
    try {
      result = loadFile(file, await readSpecFile(file));
    } catch (err) {
      result = { specs: [], problems: [fileProblem(file, err)] };
    }
    problems.push(...result.problems, ...policyProblems(file, result.specs, opts, base));
    for (const spec of result.specs) {
      const first = firstFile.get(spec.key);
      if (first === undefined) {
        firstFile.set(spec.key, file);
        accepted.push(spec);
        containers++;
      } else {
        problems.push({ file, path: 'metadata.name', key: spec.key, message: `${spec.key} is also declared in ${first}` });
      }
    }
  }

  // dependsOn cycles span files: checked over every container the files declare.
  problems.push(...cycleProblems(accepted));
  for (const p of problems) out.write(`${formatProblem(p)}\n`);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.write(`${plural(files.length, 'file')} checked, ${plural(containers, 'container')}, ${plural(problems.length, 'problem')}\n`);
  return problems.length > 0 ? 1 : 0;
}
