#!/usr/bin/env node
// The `converge` command: dispatches to one file per subcommand. Argument parsing is
// node:util's parseArgs (strict: an unknown flag is an error, not ignored).

import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { runCommand } from './run.js';
import { validateCommand } from './validate.js';
import { planCommand } from './plan.js';
import { statusCommand } from './status.js';
import { logsCommand } from './logs.js';

const USAGE = `usage: converge <command> [flags]

commands:
  run       keep containerd's containers equal to the specs
            [--dir DIR]... [--namespace converge] [--containerd-address SOCK]
            [--state-dir DIR] [--listen HOST:PORT] [--log-level info]
            [--snapshotter overlayfs] [--workers 8] [--resync 60s]
            [--backoff-initial 100ms] [--backoff-max 5m] [--backoff-reset 10s]
  validate  PATH...  check spec files and directories; exit 1 on any problem
  plan      --dir DIR...  print what run would do now, change nothing
  status    one row per container, from a running controller or from containerd
            [--server HOST:PORT] [-o json]
  logs      NAME [-f]  print a container's stdout and stderr (NAME is name or namespace/name)

common flags: --namespace, --containerd-address, --state-dir (default /var/lib/converge)
`;



async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest);
    case 'validate': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: { help: COMMON.help } });
      if (positionals.length === 0) {
        process.stderr.write('usage: converge validate PATH...\n');
        return 2;
      }
      return validateCommand(positionals, process.stdout);
    }
    case 'plan':
      return planCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'logs':
      return logsCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`converge: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: string })?.code;
    // parseArgs reports bad flags with ERR_PARSE_ARGS_* codes: a usage error, not a crash.
    process.stderr.write(`converge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  },
);
