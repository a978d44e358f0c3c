// Loads converge's subset of the containerd API (proto/) once, and holds the small
// conversions that every service wrapper shares: timestamps, Any payloads, mounts.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_FILES = [
  'containerd/services/containers/v1/containers.proto',
  'containerd/services/tasks/v1/tasks.proto',
  'containerd/services/images/v1/images.proto',
  'containerd/services/content/v1/content.proto',
  'containerd/services/snapshots/v1/snapshots.proto',
  'containerd/services/namespaces/v1/namespace.proto',
  'containerd/services/events/v1/events.proto',
  'containerd/services/version/v1/version.proto',
  'containerd/services/leases/v1/leases.proto',
  'containerd/services/diff/v1/diff.proto',
  'containerd/events/task.proto',
  'containerd/types/platform.proto',
  'io/containerd/cgroups/v1/metrics.proto',
  'io/containerd/cgroups/v2/metrics.proto',
];

/** Field names stay snake_case as in the .proto files; 64-bit ints become numbers. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The proto/ folder: found by walking up from this module (src/ or dist/src/). */
function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'containerd'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('converge: proto/ with the containerd API definitions not found');
}

let loaded: protoLoader.PackageDefinition | undefined;

/** The package definition of all converge's containerd protos (loaded on first use). */
export function packageDefinition(): protoLoader.PackageDefinition {
  loaded ??= protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
  return loaded;
}

export interface ProtoTimestamp {
  seconds: number;
  nanos: number;
}

export interface ProtoAny {
  type_url: string;
  value: Buffer;
}

export interface ProtoMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** A mount as converge passes it around (target is optional: rootfs mounts have none). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/**
 * Go's zero time (year 1) and an unset field both mean "no time": containerd sends a
 * zero timestamp for, e.g., the exit time of a running task.
 */
export function toDate(ts: ProtoTimestamp | null | undefined): Date | undefined {
  if (!ts || ts.seconds <= 0) return undefined;
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6));
}

export function fromDate(d: Date): ProtoTimestamp {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

export function mountFromProto(m: ProtoMount): Mount {
  return { type: m.type, source: m.source, target: m.target || undefined, options: m.options ?? [] };
}

export function mountToProto(m: Mount): ProtoMount {
  return { type: m.type, source: m.source, target: m.target ?? '', options: m.options };
}

/**
 * Decodes an Any whose type is one of the loaded messages. containerd writes event type
 * URLs as the bare full name ("containerd.events.TaskExit"); a "host/" prefix is allowed.
 * Returns undefined for a type converge did not load.
 */
export function decodeAny<T>(any: ProtoAny | null | undefined): { type: string; value: T } | undefined {
  if (!any || !any.type_url) return undefined;
  const type = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  const def = packageDefinition()[type] as protoLoader.MessageTypeDefinition<unknown, T> | undefined;
  if (!def || typeof def.deserialize !== 'function') return undefined;
  return { type, value: def.deserialize(any.value) };
}

/** Encodes one of the loaded messages as an Any (type URL = its full name). */
export function encodeAny(type: string, value: object): ProtoAny {
  const def = packageDefinition()[type] as protoLoader.MessageTypeDefinition<object, unknown> | undefined;
  if (!def || typeof def.serialize !== 'function') throw new Error(`converge: unknown proto type ${type}`);
  return { type_url: type, value: def.serialize(value) };
}
