#!/bin/sh
# `make demo`: starts converge on examples/ in the background (with its embedded containerd
# when none runs at /run/containerd/containerd.sock), loads the demo image, waits until the
# examples have converged and prints their status. `make stop` stops converge; the
# containers keep running, as they would under dockerd's live-restore.
set -eu
cd "$(dirname "$0")/.."
STATE=${STATE:-$PWD/.state}
LISTEN=${LISTEN:-127.0.0.1:9440}
NS=${NAMESPACE:-converge}
converge() { node dist/src/cli/main.js "$@"; }
mkdir -p "$STATE"

if [ -f "$STATE/converge.pid" ] && kill -0 "$(cat "$STATE/converge.pid")" 2>/dev/null; then
  echo "converge is already running (pid $(cat "$STATE/converge.pid"))"
else
  # Not through the shell function: $! must be node's own pid, for `make stop`.
  node --max-semi-space-size=16 dist/src/cli/main.js run --dir examples --state-dir "$STATE" --namespace "$NS" --listen "$LISTEN" >>"$STATE/converge.log" 2>&1 &
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
