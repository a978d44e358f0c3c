#!/bin/sh
# Installs what converge and its tests need on a fresh Debian machine, skipping what is
# already there: containerd, runc and busybox-static from Debian, Node.js >= 22 (fetched
# into .tools/ when the system's is older), and the npm packages (npm ci).
set -eu
cd "$(dirname "$0")/.."

missing=""
for pkg in containerd runc busybox-static; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

eval "$(scripts/node-env.sh)"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
