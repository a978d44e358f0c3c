// Runs one CNI plugin binary the way the CNI spec says a runtime does: the command and
// the attachment in CNI_* environment variables, the network config as JSON on stdin, the
// result (or an error object) as JSON on stdout. Every run has a deadline; output is
// bounded, since a plugin that floods stdout must not hold converge's memory.

import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { CniError, fromPluginError } from './errors.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** What one plugin run is about: the attachment (container, netns, interface) and its config. */
export interface PluginCall {
  command: CniCommand;
  containerId: string;
  /** Path of the network namespace; "" when there is none (DEL may run without). */
  netns: string;
  ifName: string;
  /** CNI_ARGS, "K=V;K2=V2"; optional. */
  args?: string;
  /** The config on stdin: the plugin's own entry with name, cniVersion, runtimeConfig, prevResult. */
  config: Record<string, unknown>;
}

/** Runs plugin `type`; resolves with its parsed stdout (undefined when empty), rejects with a CniError. */
export type PluginExec = (type: string, call: PluginCall) => Promise<unknown>;

const MAX_OUTPUT = 1 << 20;

export interface ExecOptions {
  /** Directories searched for plugin binaries, in order (CNI_PATH). */
  dirs: string[];
  /** Deadline of one plugin run. */
  timeoutMs: number;
}

/** The real thing: plugin binaries from `dirs`. */
export function execPlugins(opts: ExecOptions): PluginExec {
  return async (type, call) => {
    const label = `${type} ${call.command}`;
    // A type is a file name; anything else would run something outside the plugin dirs.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(type)) {
      throw new CniError('CniInvalidNetworkConfig', `plugin type ${JSON.stringify(type)} is not a file name`, { plugin: label });
    }
    const binary = await findPlugin(opts.dirs, type);
    if (!binary) {
      throw new CniError('CniPluginNotFound', `CNI plugin ${type} is not in ${opts.dirs.join(':')} (Debian: apt-get install containernetworking-plugins)`, { plugin: label });
    }
    const env: Record<string, string> = {
      CNI_COMMAND: call.command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: call.ifName,
      CNI_PATH: opts.dirs.join(':'),
      // The plugins run iptables, ip and sysctl-like helpers from the PATH.
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    };
    if (call.args) env.CNI_ARGS = call.args;
    const { code, stdout, stderr } = await run(binary, env, JSON.stringify(call.config), opts.timeoutMs, label);
    return parseOutput(label, code, stdout, stderr);
  };
}

async function findPlugin(dirs: string[], type: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const file = path.join(dir, type);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // next directory
    }
  }
  return undefined;
}

function run(binary: string, env: Record<string, string>, input: string, timeoutMs: number, label: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      if ((outBytes += b.length) <= MAX_OUTPUT) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if ((errBytes += b.length) <= MAX_OUTPUT) err.push(b);
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new CniError('CniPluginFailed', `${label}: ${e.message}`, { plugin: label, cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new CniError('CniTimeout', `${label} did not finish within ${timeoutMs} ms`, { plugin: label }));
        return;
      }
      resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A plugin that exits before reading its config closes the pipe: that is its exit code's story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** A plugin's output as the CNI spec defines it: a result on success, an error object otherwise. */
export function parseOutput(label: string, code: number, stdout: string, stderr: string): unknown {
  let body: unknown;
  const text = stdout.trim();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (code === 0) {
    if (text && body === undefined) throw new CniError('CniBadOutput', `${label} printed something that is not JSON: ${text.slice(0, 200)}`, { plugin: label });
    return body;
  }
  if (body && typeof body === 'object' && 'code' in body) throw fromPluginError(label, body as Record<string, unknown>);
  const why = (stderr.trim() || text).slice(0, 500) || 'no output';
  throw new CniError('CniPluginFailed', `${label} exited with ${code}: ${why}`, { plugin: label });
}
