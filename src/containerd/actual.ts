// containerd's records as the reconciler's ActualContainer: the labels converge wrote at
// create time become plain fields, so nothing above this layer reads a label name.

import type { ActualContainer, ActualTask } from '../reconcile/runtime.js';
import type { Container } from './containers.js';
import {
  LABEL_FAILED_DIGEST, LABEL_IMAGE_DIGEST, LABEL_IMAGE_REF, LABEL_KEY, LABEL_MANAGED, LABEL_RESTARTS,
  LABEL_SOURCE, LABEL_SPEC_HASH, LABEL_STOP_GRACE, LABEL_STOP_SIGNAL, keyOfId,
} from './labels.js';
import type { Process } from './tasks.js';
import { terminationOf } from './termination.js';

function toTask(p: Process): ActualTask {
  const task: ActualTask = { pid: p.pid, status: p.status };
  if (p.status === 'stopped') {
    task.exitStatus = p.exitStatus;
    if (p.exitedAt) task.exitedAt = p.exitedAt;
  }
  return task;
}

export function toActual(c: Container, p: Process | undefined): ActualContainer {
  const restarts = Number.parseInt(c.labels[LABEL_RESTARTS] ?? '', 10);
  const actual: ActualContainer = {
    id: c.id,
    key: c.labels[LABEL_KEY] || keyOfId(c.id),
    specHash: c.labels[LABEL_SPEC_HASH] ?? '',
    managed: c.labels[LABEL_MANAGED] === 'true',
    labels: c.labels,
    restarts: Number.isInteger(restarts) && restarts >= 0 ? restarts : 0,
  };
  const origin = c.labels[LABEL_SOURCE];
  if (origin) actual.origin = origin;
  const signal = c.labels[LABEL_STOP_SIGNAL];
  const grace = Number(c.labels[LABEL_STOP_GRACE] ?? NaN);
  if (signal && Number.isFinite(grace) && grace >= 0) actual.stop = { signal, graceMs: grace * 1000 };
  if (c.createdAt) actual.createdAt = c.createdAt;
  const image: Record<string, string> = {};
  for (const [field, label] of [['digest', LABEL_IMAGE_DIGEST], ['ref', LABEL_IMAGE_REF], ['failedDigest', LABEL_FAILED_DIGEST]]) {
    if (c.labels[label]) image[field] = c.labels[label];
  }
  if (Object.keys(image).length > 0) actual.image = image;
  const termination = terminationOf(c.labels);
  if (termination) actual.termination = termination;
  if (p) actual.task = toTask(p);
  return actual;
}

