// `converge crd`: prints the CustomResourceDefinition generated from the JSON Schema, e.g.
// `converge crd | kubectl apply -f -`; manifests/crd.yaml is this output, committed.

import { crdYaml } from '../sources/kube/crd.js';

export function crdCommand(out: NodeJS.WritableStream): number {
  out.write(crdYaml());
  return 0;
}
