#!/usr/bin/env bash
# bench/run.sh [pfbench options]      (what "make bench" runs)
#
# Runs bench/pfbench.c's program from the build directory (default build/,
# or $PERFUSE_BUILD) on memfs and bindfs attached four ways, prints the
# table and writes bench/results-DATE.json and bench/results-latest.json.
# The full run wants root (kernel FUSE mounts for rows (a) and (b), dropping
# the page cache) and takes under 10 minutes on an idle 2-CPU machine.
# Options go to pfbench: --quick (shorter), --smoke (tiny, rows c and d),
# --runs=N, --modes=abcd, --fs=memfs,bindfs, --phases=io,meta,latency,perfused;
# see "pfbench --help".  BENCH_TIMEOUT (seconds, default 900) stops a run
# that hangs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PERFUSE_BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD;; esac
PFBENCH=$BUILD/bench/pfbench

if [ ! -x "$PFBENCH" ] || [ ! -x "$BUILD/perfused" ]; then
	echo "bench/run.sh: $PFBENCH or $BUILD/perfused is missing: run make first" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: not root: rows (a) and (b) need kernel FUSE mounts" \
	    "and will say n/a" >&2
fi
command -v bindfs >/dev/null || echo "bench/run.sh: bindfs is not installed" \
    "(apt-get install bindfs): its rows are skipped" >&2

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, $(uname -r)"
echo "== uptime before: $(uptime)"
st=0
timeout -k 10 "${BENCH_TIMEOUT:-900}" "$PFBENCH" --build="$BUILD" \
    --out-dir="$ROOT/bench" "$@" || st=$?
echo "== uptime after:  $(uptime)"
if [ "$st" = 124 ]; then
	echo "bench/run.sh: pfbench timed out after ${BENCH_TIMEOUT:-900} s" >&2
fi
exit "$st"
