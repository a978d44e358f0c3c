#!/bin/sh
# `make demo`: starts converge on examples/ in the background (with its embedded containerd
# when none runs at /run/containerd/containerd.sock), loads the demo image, waits until the
# examples have converged and prints their status. `make stop` stops converge; the
# containers keep running, as they would under dockerd's live-restore. `scripts/demo.sh clean`
# (`make demo-clean`) removes them and the state dir: converge stopped, then run once more on
# an empty spec dir until nothing of the examples is left.
# CONVERGE_TEST_CONTAINERD=DIR (a scripts/build-tools.sh set, as the tests take it) makes the
# embedded containerd that one instead of Debian's; DIR goes first on PATH for its shim,
# runc and ctr.
set -eu
cd "$(dirname "$0")/.."
STATE=${STATE:-$PWD/.state}
if [ -n "${CONVERGE_TEST_CONTAINERD:-}" ]; then
  dir=$(cd "$CONVERGE_TEST_CONTAINERD" && pwd)
  if [ -S /run/containerd/containerd.sock ] && ctr -a /run/containerd/containerd.sock version >/dev/null 2>&1; then
    echo "CONVERGE_TEST_CONTAINERD is set, but a containerd answers at /run/containerd/containerd.sock and converge would use that one" >&2
    exit 1
  fi
  PATH="$dir:$PATH" CONVERGE_CONTAINERD_BIN="$dir/containerd"
  export PATH CONVERGE_CONTAINERD_BIN
  echo "embedded containerd: $("$dir/containerd" --version)"
fi
LISTEN=${LISTEN:-127.0.0.1:9440}
NS=${NAMESPACE:-converge}
converge() { node dist/src/cli/main.js "$@"; }

wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; }

clean() {
  if [ -f "$STATE/converge.pid" ]; then
    pid=$(cat "$STATE/converge.pid")
    kill "$pid" 2>/dev/null && wait_gone "$pid"
    rm -f "$STATE/converge.pid"
  fi
  [ -d "$STATE" ] || { echo "no demo state at $STATE"; return 0; }
  empty=$(mktemp -d)
  node dist/src/cli/main.js run --dir "$empty" --state-dir "$STATE" --namespace "$NS" --listen "$LISTEN" >>"$STATE/converge.log" 2>&1 &
  pid=$!
  i=0
  until [ "$(curl -sf "http://$LISTEN/readyz" >/dev/null && curl -sf "http://$LISTEN/v1/status")" = "[]" ]; do
    i=$((i + 1))
    if [ $i -ge 300 ] || ! kill -0 $pid 2>/dev/null; then
      kill $pid 2>/dev/null; echo "the demo's containers were not all removed in 60 s; see $STATE/converge.log" >&2; exit 1
    fi
    sleep 0.2
  done
  # The runc root converge gave this containerd's tasks (src/containerd/runc.ts).
  address=$(node -p "JSON.parse(require('fs').readFileSync('$STATE/converge.json','utf8')).address")
  kill $pid && wait $pid || true # its embedded containerd stops with it
  rm -rf "$empty" "$STATE" "/run/converge/runc/$(printf '%s' "$address" | sha256sum | cut -c1-12)"
  echo "removed the demo's containers and $STATE"
}

if [ "${1:-}" = clean ]; then
  clean
  exit 0
fi
mkdir -p "$STATE"

if [ -f "$STATE/converge.pid" ] && kill -0 "$(cat "$STATE/converge.pid")" 2>/dev/null; then
  echo "converge is already running (pid $(cat "$STATE/converge.pid"))"
else
  # Not through the shell function: $! must be node's own pid, for `make stop`.
  node --max-semi-space-size=2 dist/src/cli/main.js run --dir examples --state-dir "$STATE" --namespace "$NS" --listen "$LISTEN" >>"$STATE/converge.log" 2>&1 &
  echo $! >"$STATE/converge.pid"
  echo "started converge (pid $!), logging to $STATE/converge.log"
fi

# Until `converge pull` exists (issue 3), the examples use a busybox image built here from
# Debian's busybox-static and imported with ctr.
i=0
until [ -f "$STATE/converge.json" ] && curl -sf "http://$LISTEN/healthz" >/dev/null; do
  if [ $i -ge 150 ] || ! kill -0 "$(cat "$STATE/converge.pid")" 2>/dev/null; then
    echo "converge did not come up; the end of $STATE/converge.log:"; tail -n 5 "$STATE/converge.log"; exit 1
  fi
  i=$((i + 1))
  sleep 0.2
done
ADDRESS=$(node -p "JSON.parse(require('fs').readFileSync('$STATE/converge.json','utf8')).address")
if ! ctr -a "$ADDRESS" -n "$NS" images ls -q | grep -qx localhost/busybox:latest; then
  ARCHIVE=$(node --input-type=module -e "import { buildBusyboxArchive } from './dist/test/harness/image.js'; console.log(await buildBusyboxArchive())")
  ctr -a "$ADDRESS" -n "$NS" images import "$ARCHIVE" >/dev/null
  echo "imported localhost/busybox:latest into containerd namespace $NS"
fi

i=0
until curl -sf "http://$LISTEN/readyz" >/dev/null && \
  curl -sf "http://$LISTEN/v1/status" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);process.exit(r.length>0&&r.every(x=>x.phase==="Running"||(x.phase==="Exited"&&x.exitCode===0))?0:1)})'; do
  i=$((i + 1)); [ $i -lt 300 ] || { echo "examples did not converge in 60 s:"; converge status --state-dir "$STATE"; exit 1; }
  sleep 0.2
done
converge status --state-dir "$STATE"
cat <<MSG

converge is running and watching examples/. Try:
  node dist/src/cli/main.js logs ticker --state-dir $STATE -f
  edit or add a file in examples/, then: node dist/src/cli/main.js status --state-dir $STATE
  curl http://$LISTEN/metrics
  make stop     (stops converge; the containers keep running)
MSG
