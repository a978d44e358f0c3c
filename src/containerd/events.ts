// Events service: subscribe to containerd's event exchange, publish to it, and turn task
// event envelopes into converge's RuntimeEvent.

import type { RuntimeEvent } from '../reconcile/runtime.js';
import { keyOfId } from './labels.js';
import type { CallOptions, ContainerdClient, StreamOptions } from './client.js';
import { type ProtoAny, type ProtoTimestamp, decodeAny, toDate } from './proto.js';

export interface Envelope {
  timestamp?: Date;
  namespace: string;
  topic: string;
  /** The payload, decoded when its type is one converge loaded (task events). */
  event?: { type: string; value: unknown };
  /** The payload's type URL, decoded or not. */
  typeUrl: string;
}

interface ProtoEnvelope {
  timestamp: ProtoTimestamp | null;
  namespace: string;
  topic: string;
  event: ProtoAny | null;
}

function fromProto(e: ProtoEnvelope): Envelope {
  return {
    timestamp: toDate(e.timestamp),
    namespace: e.namespace,
    topic: e.topic,
    event: decodeAny(e.event),
    typeUrl: e.event?.type_url ?? '',
  };
}

interface TaskExit {
  container_id: string;
  pid: number;
  exit_status: number;
  exited_at: ProtoTimestamp | null;
}

/**
 * The RuntimeEvent for a task envelope; undefined for anything else, including events of
 * exec'd processes (only the init process's exit ends a container).
 */
export function toRuntimeEvent(e: Envelope): RuntimeEvent | undefined {
  const v = e.event?.value as Record<string, unknown> | undefined;
  if (!e.event || !v) return undefined;
  const id = String(v.container_id ?? '');
  if (!id) return undefined;
  switch (e.event.type) {
    case 'containerd.events.TaskExit': {
      const x = v as unknown as TaskExit & { id: string };
      if (x.id && x.id !== id) return undefined;
      return { type: 'exit', key: keyOfId(id), pid: x.pid, exitStatus: x.exit_status, exitedAt: toDate(x.exited_at) };
    }
    case 'containerd.events.TaskOOM':
      return { type: 'oom', key: keyOfId(id) };
    case 'containerd.events.TaskStart':
      return { type: 'start', key: keyOfId(id), pid: Number(v.pid ?? 0) };
    case 'containerd.events.TaskDelete': {
      const execId = String(v.id ?? '');
      if (execId && execId !== id) return undefined;
      return { type: 'delete', key: keyOfId(id) };
    }
    default:
      return undefined;
  }
}

/**
 * The exit a TaskDelete envelope of a task's init process carries (containerd reports the
 * pid, status and time the task ended with); undefined for an exec, or a task that never
 * had a process.
 */
export function exitOfDelete(e: Envelope): Extract<RuntimeEvent, { type: 'exit' }> | undefined {
  if (e.event?.type !== 'containerd.events.TaskDelete') return undefined;
  const v = e.event.value as Partial<TaskExit> & { id?: string };
  const id = String(v.container_id ?? '');
  const pid = Number(v.pid ?? 0);
  if (!id || (v.id && v.id !== id) || pid <= 0) return undefined;
  return { type: 'exit', key: keyOfId(id), pid, exitStatus: Number(v.exit_status ?? 0), exitedAt: toDate(v.exited_at ?? null) };
}

export class EventsService {
  constructor(private readonly client: ContainerdClient) {}

  /**
   * Envelopes matching any of `filters` (each filter is an AND of its comma-separated
   * conditions). Lives until `opts.signal` aborts; no deadline by default.
   */
  async *subscribe(filters: string[], opts: StreamOptions = {}): AsyncGenerator<Envelope, void, undefined> {
    const stream = this.client.serverStream<ProtoEnvelope>(
      'events',
      'Subscribe',
      { filters },
      { ...opts, timeoutMs: opts.timeoutMs ?? null },
    );
    for await (const env of stream) yield fromProto(env);
  }

  /** Publishes `event` on `topic` in the client's namespace. */
  async publish(topic: string, event: ProtoAny, opts?: CallOptions): Promise<void> {
    await this.client.unary('events', 'Publish', { topic, event }, opts);
  }
}
