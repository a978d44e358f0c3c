#!/usr/bin/env -S node --max-semi-space-size=16
// The `converge` command: dispatches to one file per subcommand. Argument parsing is
// node:util's parseArgs (strict: an unknown flag is an error, not ignored). Commands are
// imported when called, so `converge status` does not load the Kubernetes client.

import { parseArgs } from 'node:util';
import { COMMON } from './common.js';

const USAGE = `usage: converge <command> [flags]

commands:
  run       keep containerd's containers equal to the specs
            [--dir DIR]... [--namespace converge] [--containerd-address SOCK]
            [--state-dir DIR] [--listen HOST:PORT (host default 127.0.0.1)] [--log-level info]
            [--listen-token-file F] [--tls-cert PEM --tls-key PEM]
            [--snapshotter overlayfs] [--workers 8] [--resync 60s]
            [--backoff-initial 100ms] [--backoff-max 5m] [--backoff-reset 10s]
            [--bridge-name converge0] [--bridge-subnet 10.213.0.0/16] [--cni-plugin-dir DIR]...
            [--policy FILE (SIGHUP re-reads it)] [--allow-empty GLOB]... [--max-grace-period 5m]
            [--auto-update-interval 15m] [--auto-update-rollback-window 60s]
            [--logger PATH (default .tools/converge-logger/)] [--log-max-size 10Mi] [--log-max-files 5]
            [--git URL [--git-ref main] [--git-path PATH] [--git-interval 30s]
             [--git-webhook-secret S | --git-webhook-secret-file F] [--git-verify-commits KEYRING]]
            [--kube [--kubeconfig PATH] [--node-name NAME (default: hostname)]
             [--watch-namespace NS] [--kube-backoff-max 30s]]
  validate  PATH...  check spec files and directories; exit 1 on any problem
            [--policy FILE] [--source dir:DIR|git:URL|kube]  and what the policy denies
  plan      --dir DIR...  print what run would do now, change nothing [--policy FILE] [--allow-empty GLOB]
  status    one row per container, from a running controller or from containerd
            [--server HOST:PORT | https://HOST:PORT] [-o json]
  auto-update  [--dry-run] [--server HOST:PORT | https://HOST:PORT] [--token-file F]
            check every autoUpdate container's tag now (asks the running controller)
            and print what changed or would change
  logs      NAME  print a container's stdout and stderr (NAME is name or namespace/name)
            [-f] [--tail N] [--since DURATION] [--timestamps]
  pull      IMAGE  pull an image into containerd [--platform os/arch] [--insecure-registry HOST:PORT]...
            [--registry-config PATH] [--max-manifest-size 4Mi] [--max-config-size 8Mi]
            [--max-layers 128] [--max-image-size 16Gi] [--pull-timeout 30m] [--min-free-disk 1Gi]
            [--pull-disk-path PATH (default: the state dir)] (run takes the registry flags too)
  crd       print the Container CustomResourceDefinition (kubectl apply -f -)

common flags: --namespace, --containerd-address, --state-dir (default /var/lib/converge)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return (await import('./run.js')).runCommand(rest);
    case 'validate': {
      const { positionals, values } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { help: COMMON.help, policy: { type: 'string' }, source: { type: 'string' } },
      });
      if (positionals.length === 0) {
        process.stderr.write('usage: converge validate PATH... [--policy FILE] [--source dir:DIR|git:URL|kube]\n');
        return 2;
      }
      const { loadPolicyFile } = await import('../policy/file.js');
      const { DEFAULT_POLICY } = await import('../policy/gate.js');
      const policy = values.policy ? await loadPolicyFile(values.policy) : values.source ? DEFAULT_POLICY : undefined;
      return (await import('./validate.js')).validateCommand(positionals, process.stdout, { policy, source: values.source });
    }
    case 'plan':
      return (await import('./plan.js')).planCommand(rest);
    case 'status':
      return (await import('./status.js')).statusCommand(rest);
    case 'logs':
      return (await import('./logs.js')).logsCommand(rest);
    case 'auto-update':
      return (await import('./autoupdate.js')).autoUpdateCommand(rest);
    case 'pull':
      return (await import('./pull.js')).pullCommand(rest);
    case 'crd':
      return (await import('./crd.js')).crdCommand(process.stdout);
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
