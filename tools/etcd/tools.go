//go:build tools

// The commands scripts/build-tools.sh builds from this module: etcd (the server module's
// main package) and etcdctl, with etcd's own modules pinned to one release by replace lines.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
