#!/bin/sh
# Builds converge's task log driver (logger/, Go, standard library only) into
# .tools/converge-logger-<hash of its sources>/converge-logger and points the link
# .tools/converge-logger at that dir, where `converge run` looks for it by default. A second
# run with the same sources builds nothing; other versions' dirs are removed (running
# loggers use the copy `converge run` installs into its state dir, not these).
# Usage: scripts/build-logger.sh   Prints the binary's path. Needs Go (PATH or /usr/local/go/bin).
set -eu
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/local/go/bin"
export PATH GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
command -v go >/dev/null || { echo "build-logger: Go is not installed (looked on PATH and in /usr/local/go/bin)" >&2; exit 1; }

hash=$(cd logger && find . -type f \( -name '*.go' -o -name go.mod \) ! -name '*_test.go' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
mkdir -p .tools
dir=".tools/converge-logger-$hash"
if [ ! -x "$dir/converge-logger" ]; then
  echo "build-logger: building logger/ into $dir" >&2
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  (cd logger && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "../$dir.tmp/converge-logger" .)
  mv "$dir.tmp" "$dir"
fi
ln -sfn "converge-logger-$hash" .tools/converge-logger.tmp
mv -T .tools/converge-logger.tmp .tools/converge-logger
for old in .tools/converge-logger-*; do
  [ "$old" = "$dir" ] || rm -rf "$old"
done
echo "$PWD/.tools/converge-logger/converge-logger"
