#!/bin/sh
# Prints a PATH prefix that puts Node.js >= 22 first. The machines ship Node 20, which is
# past its end of life; when the system's Node is older, the official Node 24 binary is
# fetched from the npm registry (package "node") into .tools/ once.
# Usage: eval "$(scripts/node-env.sh)"
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 22 ]; then
  exit 0
fi
if [ ! -x "$tools/node_modules/.bin/node" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
fi
echo "export PATH=\"$tools/node_modules/.bin:\$PATH\""
