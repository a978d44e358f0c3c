#!/bin/sh
# Builds the containerds the integration tests run besides Debian's, from their Go modules
# (never prebuilt binaries), into .tools/, one directory per version so that a second run
# (or a CI run with .tools/ cached) builds nothing:
#   .tools/runc-<v>/bin/runc                              runc, cgo with libseccomp
#   .tools/containerd-<v>/bin/{containerd,ctr,containerd-shim-runc-v2}
#                                  and runc, a link to the runc above: one dir is one set,
#                                  the dir that CONVERGE_TEST_CONTAINERD names
#   .tools/kubernetes-<v>/bin/{kube-apiserver,kubectl}    for the Kubernetes source's tests
#   .tools/etcd-<v>/bin/{etcd,etcdctl}                     (test/harness/kube-cluster.ts)
# Kubernetes and etcd are built from the modules tools/kube and tools/etcd, whose go.mod and
# go.sum pin every version (a go.mod's replace lines apply only in the main module, so
# kubernetes' k8s.io/* staging modules are pinned there). To bump: edit the versions in
# tools/<name>/go.mod (k8s.io/kubernetes v1.N.P goes with k8s.io/* v0.N.P), `go mod tidy`.
# Usage: scripts/build-tools.sh [2|1.7|kube|all]   (default 2: containerd 2.x and runc)
# Prints the dir of each set it built or found, one a line, on stdout; progress on stderr.
# Needs Go (PATH or /usr/local/go/bin; GOTOOLCHAIN=auto fetches a newer toolchain through
# the module proxy when containerd's go.mod asks for one) and Debian's gcc, libc6-dev,
# pkg-config and libseccomp-dev (scripts/setup.sh installs them).
set -eu
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools"

# Exact current releases (go list -m -versions <module>); bump here, the dirs follow.
CONTAINERD2_VERSION=v2.4.2
CONTAINERD17_VERSION=v1.7.35
RUNC_VERSION=v1.5.3

which=${1:-2}
PATH="$PATH:/usr/local/go/bin"
export PATH GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { echo "build-tools: $*" >&2; }

# The version a tools/<name>/go.mod requires of a module (the dir name follows it).
pinned() { # <module dir> <module path>
  sed -n "s|^[[:space:]]*\(require[[:space:]]*\)\{0,1\}$2 \(v[^[:space:]]*\).*|\2|p" "$root/tools/$1/go.mod" | head -n 1
}
KUBE_VERSION=$(pinned kube k8s.io/kubernetes)
ETCD_VERSION=$(pinned etcd go.etcd.io/etcd/server/v3)

command -v go >/dev/null || { echo "build-tools: Go is not installed (looked on PATH and in /usr/local/go/bin); it builds containerd, runc, kube-apiserver and etcd from their modules" >&2; exit 1; }

# Builds commands of one module at an exact version with the module's own go.mod, into a
# bin dir: `go install <module>/<cmd>@<version>`, or, for a module whose go.mod has
# replace or exclude directives (go install refuses those; containerd 1.7 has one),
# `go build` inside its copy in the module cache. (sh has no locals: gb_* are gobuild's.)
gobuild() { # <bin dir> <cgo 0|1> <tags> <ldflags> <module> <version> <cmd dir>...
  gb_bin=$1 gb_cgo=$2 gb_tags=$3 gb_ld=$4 gb_mod=$5 gb_ver=$6
  shift 6
  gb_json=$(go mod download -json "$gb_mod@$gb_ver")
  gb_gomod=$(printf '%s\n' "$gb_json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  gb_src=$(printf '%s\n' "$gb_json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  mkdir -p "$gb_bin"
  for gb_cmd in "$@"; do
    if grep -Eq '^[[:space:]]*(replace|exclude)([[:space:]]|\()' "$gb_gomod"; then
      gb_name=$(basename "$gb_cmd")
      [ "$gb_cmd" != . ] || gb_name=$(basename "$gb_mod")
      (cd "$gb_src" && CGO_ENABLED="$gb_cgo" go build -mod=mod -trimpath -tags "$gb_tags" -ldflags "$gb_ld" -o "$gb_bin/$gb_name" "./$gb_cmd")
    else
      gb_pkg=$gb_mod
      [ "$gb_cmd" = . ] || gb_pkg="$gb_mod/$gb_cmd"
      GOBIN="$gb_bin" CGO_ENABLED="$gb_cgo" go install -trimpath -tags "$gb_tags" -ldflags "$gb_ld" "$gb_pkg@$gb_ver"
    fi
  done
}

build_runc() {
  dir="$tools/runc-$RUNC_VERSION/bin"
  if [ -x "$dir/runc" ]; then return 0; fi
  log "building runc $RUNC_VERSION into $dir"
  start=$(date +%s)
  rm -rf "$dir.tmp"
  # seccomp is a build tag (runc's Makefile adds it; plain go install does not) and needs
  # cgo and libseccomp. Without the libpathrs tag runc uses its pure-Go path resolver.
  gobuild "$dir.tmp" 1 "seccomp urfave_cli_no_docs" "-s -w" github.com/opencontainers/runc "$RUNC_VERSION" .
  mv "$dir.tmp" "$dir"
  log "runc $RUNC_VERSION built in $(($(date +%s) - start)) s"
}

# <version> <module path>: containerd, ctr and the runc v2 shim, plus the link to runc.
build_containerd() {
  version=$1 module=$2
  dir="$tools/containerd-$version/bin"
  if [ ! -x "$dir/containerd" ] || [ ! -x "$dir/ctr" ] || [ ! -x "$dir/containerd-shim-runc-v2" ]; then
    log "building containerd $version into $dir"
    start=$(date +%s)
    rm -rf "$dir.tmp"
    # Version in the binaries (`containerd --version`), as containerd's Makefile sets it.
    ld="-s -w -X $module/version.Version=$version -X $module/version.Package=$module"
    gobuild "$dir.tmp" 0 "urfave_cli_no_docs" "$ld" "$module" "$version" cmd/containerd cmd/ctr
    gobuild "$dir.tmp" 0 "urfave_cli_no_docs no_grpc" "$ld" "$module" "$version" cmd/containerd-shim-runc-v2
    mv "$dir.tmp" "$dir"
    log "containerd $version built in $(($(date +%s) - start)) s"
  fi
  ln -sfn "../../runc-$RUNC_VERSION/bin/runc" "$dir/runc"
  echo "$dir"
}

# <module dir> <tools dir> <ldflags> <command>=<package>...: `go build` in tools/<module dir>
# (its go.mod and go.sum, read-only: a missing or changed sum fails the build) into
# .tools/<tools dir>/bin. (sh has no locals: bm_* are build_module's.)
build_module() {
  bm_mod=$1 bm_name=$2 bm_bin="$tools/$2/bin" bm_ld=$3
  shift 3
  bm_missing=""
  for bm_pair in "$@"; do [ -x "$bm_bin/${bm_pair%%=*}" ] || bm_missing=1; done
  if [ -n "$bm_missing" ]; then
    log "building $bm_name into $bm_bin"
    start=$(date +%s)
    rm -rf "$bm_bin.tmp"
    mkdir -p "$bm_bin.tmp"
    for bm_pair in "$@"; do
      (cd "$root/tools/$bm_mod" && go build -mod=readonly -trimpath -ldflags "$bm_ld" -o "$bm_bin.tmp/${bm_pair%%=*}" "${bm_pair#*=}")
    done
    rm -rf "$bm_bin"
    mv "$bm_bin.tmp" "$bm_bin"
    log "$bm_name built in $(($(date +%s) - start)) s"
  fi
  echo "$bm_bin"
}

build_kube() {
  # The version the binaries report (kube-apiserver --version, kubectl version), as
  # kubernetes' own build sets it.
  minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
  v=k8s.io/component-base/version
  ld="-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  build_module kube "kubernetes-$KUBE_VERSION" "$ld" kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kubectl=k8s.io/kubernetes/cmd/kubectl
  build_module etcd "etcd-$ETCD_VERSION" "-s -w" etcd=go.etcd.io/etcd/server/v3 etcdctl=go.etcd.io/etcd/etcdctl/v3
}

mkdir -p "$tools"
case "$which" in
  2) build_runc; build_containerd "$CONTAINERD2_VERSION" github.com/containerd/containerd/v2 ;;
  1.7) build_runc; build_containerd "$CONTAINERD17_VERSION" github.com/containerd/containerd ;;
  kube) build_kube ;;
  all)
    build_runc
    build_containerd "$CONTAINERD2_VERSION" github.com/containerd/containerd/v2
    build_containerd "$CONTAINERD17_VERSION" github.com/containerd/containerd
    build_kube
    ;;
  *) echo "usage: $0 [2|1.7|kube|all]" >&2; exit 2 ;;
esac
