#!/usr/bin/env -S node --max-semi-space-size=2
// The `converge` command: dispatches to the commands of commands.ts. Conventions held here
// for every command: `--help`/`-h` prints the command's usage on stdout and exits 0; a usage
// error (an unknown flag, a missing argument, a bad value) prints its message on stderr
// and exits 2; any other failure exits 1. Argument parsing is node:util's parseArgs
// (strict: an unknown flag is an error, not ignored).

import { COMMANDS, overview } from './commands.js';
import { isUsageError } from './usage.js';
import { VERSION } from '../version.js';

/** Whether the arguments ask for help: --help or -h before any "--" (after it, they are a command's own). */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case undefined:
      process.stderr.write(overview());
      return 2;
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
      process.stdout.write(topic ? topic.usage : overview());
      return 0;
    }
    case '--version':
      process.stdout.write(`converge ${VERSION}\n`);
      return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`converge: unknown command '${name}'\n\n${overview()}`);
    return 2;
  }
  if (asksForHelp(rest)) {
    process.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (!isUsageError(err)) throw err;
    process.stderr.write(`converge ${name}: ${err instanceof Error ? err.message : String(err)}\n(converge ${name} --help shows its usage)\n`);
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`converge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
