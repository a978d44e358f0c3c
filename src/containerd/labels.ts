// converge's conventions in containerd: the container ID of a key and the labels that
// carry, across restarts of converge, what it must remember of each container.

import type { Key } from '../spec/types.js';

export const LABEL_MANAGED = 'converge.dev/managed';
export const LABEL_SPEC_HASH = 'converge.dev/spec-hash';
export const LABEL_SOURCE = 'converge.dev/source';
export const LABEL_RESTARTS = 'converge.dev/restarts';
/** The spec's own namespace/name, so the key survives without parsing the ID. */
export const LABEL_KEY = 'converge.dev/key';
/** How the spec said to stop the container, kept for when the spec is gone (removal). */
export const LABEL_STOP_SIGNAL = 'converge.dev/stop-signal';
/** terminationGracePeriodSeconds of the spec, for the same reason. */
export const LABEL_STOP_GRACE = 'converge.dev/stop-grace-seconds';

/** What a bridge container asks of the network (its published ports, its hostname), for attaching it again without its spec. */
export const LABEL_NETWORK = 'converge.dev/network';
/** On an image record converge made (a pull, a digest pin): only those are collected. */
export const LABEL_PULLED = 'converge.dev/pulled';
/** The digest (of the index or manifest) of the image the container was created from. */
export const LABEL_IMAGE_DIGEST = 'converge.dev/image-digest';
/** autoUpdate: the spec's image reference the digest is of, and a digest that failed (not
 * tried again until the tag names another). */
export const LABEL_IMAGE_REF = 'converge.dev/image-ref';
export const LABEL_FAILED_DIGEST = 'converge.dev/failed-digest';

/** containerd container ID for a key: "<namespace>.<name>" (both DNS-1123 labels). */
export function idOf(key: Key): string {
  return key.replace('/', '.');
}

/** The key for a containerd container ID; the namespace holds no dot, so split at the first. */
export function keyOfId(id: string): Key {
  const dot = id.indexOf('.');
  return dot < 0 ? id : `${id.slice(0, dot)}/${id.slice(dot + 1)}`;
}

/**
 * How the container's last task ended when containerd alone would not say: OOM-killed, or
 * never started (a task that could not be created or started), as JSON (termination.ts).
 * Kept until a task starts again, so that it survives a restart of converge.
 */
export const LABEL_TERMINATION = 'converge.dev/termination';
