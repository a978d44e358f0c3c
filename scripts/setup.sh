#!/bin/sh
# Installs what converge and its tests need on a fresh Debian machine, skipping what is
# already there: containerd, runc and busybox-static from Debian (and docker-registry,
# skopeo, apache2-utils and openssl for the pull tests; git, gpg, gpg-agent and gpgconf for
# the Git source and its tests; containernetworking-plugins, iptables and iproute2 for network: bridge
# and its tests; chromium for the status page's browser test; gcc, libc6-dev, pkg-config and
# libseccomp-dev to build runc), Node.js >= 22 (fetched into .tools/ when the system's is
# older), the npm packages (npm ci), and, built from their Go modules into .tools/ once per
# version (scripts/build-tools.sh; needs Go): the containerd 2.x and runc the tests also run,
# kube-apiserver, kubectl, etcd and etcdctl for the Kubernetes source's tests, and converge's
# task log driver (scripts/build-logger.sh, Go too).
set -eu
cd "$(dirname "$0")/.."

missing=""
for pkg in containerd runc busybox-static containernetworking-plugins iptables iproute2 docker-registry skopeo apache2-utils openssl git gpg gpg-agent gpgconf \
  chromium gcc libc6-dev pkg-config libseccomp-dev; do
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

# Print the dirs they built or found; setup only wants them there. Without Go this says so
# and setup fails; the tests that need these tools fail naming what is missing.
scripts/build-logger.sh >/dev/null
scripts/build-tools.sh 2 >/dev/null
scripts/build-tools.sh kube >/dev/null
