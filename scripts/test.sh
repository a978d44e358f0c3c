#!/bin/sh
# The README's test command (`npm test`, `make test`) after the build: one pass per
# containerd. Debian's (/usr/bin, 1.6) runs the unit and the integration tests; each other
# containerd, built from its Go module by scripts/build-tools.sh (built once, then cached in
# .tools/), runs the integration tests again with CONVERGE_TEST_CONTAINERD naming its dir
# (unit tests need no containerd). The Kubernetes tests (integration/kube*.test.js: a real
# kube-apiserver + etcd per file, the API server's side of converge) run in the Debian pass
# only: what they prove does not change with the containerd, and each file costs an API
# server. Every pass prints node:test's own summary; the end prints
# one line per pass, and the exit status is non-zero when any pass failed.
# Usage: scripts/test.sh [debian|2|1.7]...   (default: debian 2)
set -u
cd "$(dirname "$0")/.."

passes=${*:-debian 2}
# The task log driver every test that starts a task runs (built once per version of logger/).
scripts/build-logger.sh >/dev/null || { echo "test.sh: the log driver (logger/) could not be built" >&2; exit 1; }
logdir=$(mktemp -d "${TMPDIR:-/tmp}/converge-test-XXXXXX")
trap 'rm -rf "$logdir"' EXIT
summary=""
failed=0

# <label> <files glob or list>: one node --test run; spec to the terminal, TAP to a file for the counts.
run_pass() {
  label=$1 files=$2 tap="$logdir/$(echo "$1" | tr -c 'A-Za-z0-9.\n' _).tap"
  echo "== $label" >&2
  start=$(date +%s)
  set -f # a glob is node's to expand, a list is split on spaces
  node --test --test-concurrency=2 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" $files
  rc=$?
  set +f
  counts=$(sed -n 's/^# \(tests\|pass\|fail\|cancelled\|skipped\) \([0-9]*\)$/\1 \2/p' "$tap" 2>/dev/null | tr '\n' ',' | sed 's/,$//; s/,/, /g')
  [ $rc -eq 0 ] || failed=1
  status=ok
  [ $rc -eq 0 ] || status="FAILED (exit $rc)"
  summary="$summary$label: ${counts:-no summary}; $(($(date +%s) - start)) s; $status
"
}

for pass in $passes; do
  case "$pass" in
    debian)
      unset CONVERGE_TEST_CONTAINERD
      v=$(/usr/bin/containerd --version 2>/dev/null | awk '{print $3}')
      run_pass "containerd ${v:-?} (Debian, /usr/bin): unit + integration" 'dist/test/**/*.test.js'
      ;;
    2 | 1.7)
      if ! dir=$(scripts/build-tools.sh "$pass"); then
        summary="${summary}containerd $pass: could not be built; FAILED
"
        failed=1
        continue
      fi
      v=$("$dir/containerd" --version | awk '{print $3}')
      CONVERGE_TEST_CONTAINERD=$dir
      export CONVERGE_TEST_CONTAINERD
      run_pass "containerd $v (built, $dir): integration" "$(ls dist/test/integration/*.test.js | grep -v '/kube[^/]*\.test\.js$' | tr '\n' ' ')"
      unset CONVERGE_TEST_CONTAINERD
      ;;
    *) echo "test.sh: unknown containerd '$pass' (debian, 2 or 1.7)" >&2; exit 2 ;;
  esac
done

echo
printf '%s' "$summary" | sed 's/^/test: /'
exit $failed
