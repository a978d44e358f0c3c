#!/bin/sh
# Builds the containerds the integration tests run besides Debian's, from their Go modules
# (never prebuilt binaries), into .tools/, one directory per version so that a second run
# (or a CI run with .tools/ cached) builds nothing:
#   .tools/runc-<v>/bin/runc                              runc, cgo with libseccomp
#   .tools/containerd-<v>/bin/{containerd,ctr,containerd-shim-runc-v2}
#                                  and runc, a link to the runc above: one dir is one set,
#                                  the dir that CONVERGE_TEST_CONTAINERD names
# Usage: scripts/build-tools.sh [2|1.7|all]   (default 2: containerd 2.x and runc)
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
command -v go >/dev/null || { echo "build-tools: Go is not installed (looked on PATH and in /usr/local/go/bin)" >&2; exit 1; }

log() { echo "build-tools: $*" >&2; }

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

mkdir -p "$tools"
build_runc
case "$which" in
  2) build_containerd "$CONTAINERD2_VERSION" github.com/containerd/containerd/v2 ;;
  1.7) build_containerd "$CONTAINERD17_VERSION" github.com/containerd/containerd ;;
  all)
    build_containerd "$CONTAINERD2_VERSION" github.com/containerd/containerd/v2
    build_containerd "$CONTAINERD17_VERSION" github.com/containerd/containerd
    ;;
  *) echo "usage: $0 [2|1.7|all]" >&2; exit 2 ;;
esac
