// The one place tests and the bench build Container specs: as a document, as the
// DesiredContainer a source would emit (through toDesired, so keys and origins are made the
// way the sources make them), as the YAML text of a spec file, and as the input of the OCI
// spec builder.

import type { OciInput } from '../../src/containerd/oci.js';
import { toDesired } from '../../src/spec/resolve.js';
import type { ContainerSpec, ContainerSpecBody, DesiredContainer, ImageConfig } from '../../src/spec/types.js';

type Metadata = ContainerSpec['metadata'];

/** A Container document; the image is busybox unless `body` says otherwise. */
export function containerDoc(name: string, body: Partial<ContainerSpecBody> = {}, meta: Partial<Metadata> = {}): ContainerSpec {
  return { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name, ...meta }, spec: { image: 'busybox', ...body } };
}

/**
 * A desired container with the given spec fields and hash. The hash is given, not computed,
 * so that a test says outright whether two specs count as the same.
 */
export function desired(
  name: string,
  body: Partial<ContainerSpecBody> = {},
  hash = 'h1',
  origin = `dir:/specs/${name}.yaml`,
  meta: Partial<Metadata> = {},
): DesiredContainer {
  return { ...toDesired(containerDoc(name, body, meta), origin), hash };
}

/** Runs `script` with /bin/sh -c (busybox has no bash). */
export const sh = (script: string): Partial<ContainerSpecBody> => ({ command: ['/bin/sh', '-c'], args: [script] });

export interface SpecYamlOptions {
  /** Default busybox. */
  image?: string;
  /** Lines added under metadata (after name), each indented by two spaces and ending in \n. */
  metadata?: string;
  /** Lines added under spec (after image), likewise. */
  spec?: string;
}

/**
 * The YAML text of a spec file with one Container. Written out by hand rather than dumped, so
 * that the line numbers tests expect in problems stay put: name on line 4, image on line 6
 * when `metadata` adds nothing.
 */
export function specYaml(name: string, opts: SpecYamlOptions = {}): string {
  return `apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n  name: ${name}\n${opts.metadata ?? ''}spec:\n  image: ${opts.image ?? 'busybox'}\n${opts.spec ?? ''}`;
}

/** What buildSpec takes for container default/web (image "img", root), with `body` and `extra` on top. */
export function ociInput(body: Partial<ContainerSpecBody> = {}, image: ImageConfig = { Cmd: ['/bin/sh'] }, extra: Partial<OciInput> = {}): OciInput {
  return { id: 'default.web', containerdNamespace: 'converge', spec: containerDoc('web', { image: 'img', ...body }), image, user: { uid: 0, gid: 0 }, ...extra };
}
