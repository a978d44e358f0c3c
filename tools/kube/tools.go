//go:build tools

// The commands scripts/build-tools.sh builds from this module: its go.mod pins
// k8s.io/kubernetes and, with replace lines, the k8s.io/* staging modules at the matching
// v0.x versions (a dependency's own replace lines do not apply here).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
