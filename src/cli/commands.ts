// Every `converge` command: its usage text (what `converge CMD --help` prints and what the
// overview lists) and how to run it. A new command is one entry here: main.ts dispatches,
// answers --help/-h, and maps usage errors to exit 2 for all of them, and the CLI
// conventions test runs each entry with --help and with a bogus flag. Commands are imported
// when called, so `converge status` does not load the Kubernetes client.

import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { UsageError } from './usage.js';
import { VERSION } from '../version.js';

export interface Command {
  /** One line for the overview. */
  summary: string;
  /** The full usage, starting "usage: converge NAME". */
  usage: string;
  run(args: string[]): Promise<number>;
}

const SOURCE_USAGE = `  [--dir DIR]... [--policy FILE] [--allow-empty GLOB]...
  [--git URL [--git-ref main] [--git-path PATH] [--git-interval 30s]
   [--git-webhook-secret S | --git-webhook-secret-file F] [--git-verify-commits KEYRING]]
  [--kube [--kubeconfig PATH] [--node-name NAME (default: hostname)]
   [--watch-namespace NS] [--kube-backoff-max 30s]]
  [--config FILE (YAML: the long flags as keys; flags win)]`;

const COMMON_USAGE = '  [--namespace converge] [--containerd-address SOCK] [--state-dir /var/lib/converge] [--log-level info]';

const PULL_FLAGS_USAGE = `  [--insecure-registry HOST:PORT]... [--registry-config PATH] [--max-concurrent-downloads 3]
  [--max-manifest-size 4Mi] [--max-config-size 8Mi] [--max-layers 128] [--max-image-size 16Gi]
  [--pull-timeout 30m] [--min-free-disk 1Gi] [--pull-disk-path PATH (default: the state dir)]`;

/** Fails with a UsageError when a command that takes no arguments is given some. */
function noArguments(args: string[]): void {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: { help: COMMON.help } });
  if (positionals.length > 0) throw new UsageError(`takes no arguments, got '${positionals[0]}'`);
}

export const COMMANDS: Record<string, Command> = {
  run: {
    summary: 'keep containerd\'s containers equal to the specs (SIGHUP re-reads --config and --policy)',
    usage: `usage: converge run (--dir DIR | --git URL | --kube | --config FILE) [flags]
${SOURCE_USAGE}
${COMMON_USAGE}
  [--listen HOST:PORT (host default 127.0.0.1)] [--listen-token-file F] [--tls-cert PEM --tls-key PEM]
  [--snapshotter overlayfs] [--workers 8] [--resync 60s]
  [--backoff-initial 100ms] [--backoff-max 5m] [--backoff-reset 10s] [--max-grace-period 5m]
  [--auto-update-interval 15m] [--auto-update-rollback-window 60s]
  [--bridge-name converge0] [--bridge-subnet 10.213.0.0/16] [--cni-plugin-dir DIR]...
  [--logger PATH (default .tools/converge-logger/)] [--log-max-size 10Mi] [--log-max-files 5]
${PULL_FLAGS_USAGE}
`,
    run: async (args) => (await import('./run.js')).runCommand(args),
  },
  validate: {
    summary: 'check spec files and directories; exit 1 on any problem',
    usage: `usage: converge validate PATH... [--policy FILE] [--source dir:DIR|git:URL|kube]
  checks spec files (and the spec files of directories), and with --policy (or --source)
  what the policy denies
`,
    run: async (args) => (await import('./validate.js')).validateMain(args),
  },
  plan: {
    summary: 'print what run would do now, change nothing',
    usage: `usage: converge plan (--dir DIR | --git URL | --kube | --config FILE) [flags]
${SOURCE_USAGE}
${COMMON_USAGE}
`,
    run: async (args) => (await import('./plan.js')).planCommand(args),
  },
  status: {
    summary: 'one row per container, from a running controller or from containerd',
    usage: `usage: converge status [--server HOST:PORT | https://HOST:PORT] [-o table|json]
${COMMON_USAGE}
`,
    run: async (args) => (await import('./status.js')).statusCommand(args),
  },
  'auto-update': {
    summary: 'check every autoUpdate container\'s tag now (asks the running controller)',
    usage: `usage: converge auto-update [--dry-run] [--server HOST:PORT | https://HOST:PORT] [--token-file F]
  prints what changed or would change
${COMMON_USAGE}
`,
    run: async (args) => (await import('./autoupdate.js')).autoUpdateCommand(args),
  },
  logs: {
    summary: 'print a container\'s stdout and stderr',
    usage: `usage: converge logs NAME|NAMESPACE/NAME [-f] [--tail N] [--since DURATION] [--timestamps]
${COMMON_USAGE}
`,
    run: async (args) => (await import('./logs.js')).logsCommand(args),
  },
  exec: {
    summary: 'run a command in a container\'s running task; exits with its code',
    usage: `usage: converge exec NAME|NAMESPACE/NAME [-t] [-i] -- CMD [ARG]...
  -i  pass stdin to the command; -t  give it a terminal (raw mode, resized with the caller's)
${COMMON_USAGE}
`,
    run: async (args) => (await import('./exec.js')).execCommand(args),
  },
  restart: {
    summary: 'stop a container\'s task (its stop signal and grace) and start it again, counted',
    usage: `usage: converge restart NAME|NAMESPACE/NAME [--server HOST:PORT | https://HOST:PORT] [--token-file F]
  through the running controller when one is reachable, else directly against containerd
${COMMON_USAGE}
`,
    run: async (args) => (await import('./restart.js')).restartCommand(args),
  },
  stats: {
    summary: 'CPU and memory of each running container',
    usage: `usage: converge stats [NAME|NAMESPACE/NAME]... [--no-stream] [-o table|json]
${COMMON_USAGE}
`,
    run: async (args) => (await import('./stats.js')).statsCommand(args),
  },
  pull: {
    summary: 'pull an image into containerd',
    usage: `usage: converge pull IMAGE [--platform os/arch[/variant]] [--snapshotter overlayfs] [-q]
${PULL_FLAGS_USAGE}
${COMMON_USAGE}
`,
    run: async (args) => (await import('./pull.js')).pullCommand(args),
  },
  crd: {
    summary: 'print the Container CustomResourceDefinition (kubectl apply -f -)',
    usage: 'usage: converge crd\n',
    run: async (args) => {
      noArguments(args);
      return (await import('./crd.js')).crdCommand(process.stdout);
    },
  },
  version: {
    summary: 'print converge\'s version (also --version)',
    usage: 'usage: converge version\n',
    run: async (args) => {
      noArguments(args);
      process.stdout.write(`converge ${VERSION}\n`);
      return 0;
    },
  },
};

/** `converge help`: every command with its summary. */
export function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}\n`);
  return `usage: converge <command> [flags]    (converge <command> --help for its flags)\n\ncommands:\n${rows.join('')}`;
}
