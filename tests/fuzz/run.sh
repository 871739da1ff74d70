#!/usr/bin/env bash
# tests/fuzz/run.sh - build and run the libFuzzer targets of tests/fuzz.
#
#   run.sh build [DIR]     build the targets (and make_corpus) into DIR
#                          (default build-fuzz), each from its tests/fuzz/*.c
#                          and the lib/*.c it needs, with clang -g -O1
#                          -fsanitize=fuzzer,address,undefined
#                          -fno-sanitize-recover=all; as root, installs clang
#                          and libclang-rt-14-dev with apt-get when missing
#   run.sh corpus [DIR]    (re)write the seed corpus, tests/fuzz/corpus/, with
#                          DIR/make_corpus (files of other names are kept)
#   run.sh run [-t SECONDS] [-j JOBS] [-o OUTDIR] [-d DIR] [-q] [TARGET...]
#                          run each target (default: all) for SECONDS (60)
#                          on a fresh copy of its corpus in OUTDIR
#                          (default DIR/run), JOBS at a time (2); writes
#                          OUTDIR/TARGET.out (libFuzzer's output) and one line
#                          "TARGET STATUS SECONDS NOTE" per target to
#                          OUTDIR/results; prints "PASS TARGET ..." or
#                          "FAIL TARGET ..." with the output's tail, unless
#                          -q; exits 1 when any failed
#   run.sh list            the targets' names
#
# Each run first replays every corpus input once, whole, then fuzzes with
# -max_len=4096 (inputs longer than that, such as a regression input of
# fuzz_ctl, are only replayed).  A crash, an invariant trap, a sanitizer
# report, a leak or an input that runs over 10 s fails the target;
# libFuzzer keeps the input in DIR/crashes/TARGET-*, and the note names it.
# Environment: FUZZ_CC (default clang, else clang-14), FUZZ_CFLAGS (the
# flags above), FUZZ_ARGS (more libFuzzer options, e.g. -max_len=300000).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGETS=(fuzz_reply fuzz_init fuzz_frame fuzz_ctl)
FUZZ_CFLAGS=${FUZZ_CFLAGS:--g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all}
COMMON_CFLAGS=(-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow
    -Wno-unused-parameter -I"$ROOT/lib" -I"$HERE")

# The library sources each target compiles in.
sources() {
	case $1 in
	fuzz_reply) echo lib/proto.c;;
	fuzz_init) echo lib/init.c lib/proto.c;;
	fuzz_frame) echo lib/frame.c;;
	fuzz_ctl) echo lib/ctl.c;;
	make_corpus) echo lib/init.c lib/proto.c lib/frame.c lib/ctl.c;;
	esac
}

die() {
	echo "tests/fuzz/run.sh: $*" >&2
	exit 1
}

# A clang that links -fsanitize=fuzzer; as root, apt-get one when needed.
find_cc() {
	local cc t
	t=$(mktemp -d /tmp/perfuse-fuzz-cc.XXXXXX) || exit 1
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	    >"$t/t.c"
	for attempt in 1 2; do
		for cc in ${FUZZ_CC:-clang clang-14}; do
			if command -v "$cc" >/dev/null &&
			    "$cc" -fsanitize=fuzzer,address,undefined -o "$t/t" "$t/t.c" \
			    >/dev/null 2>&1; then
				rm -rf "$t"
				CC=$cc
				return 0
			fi
		done
		[ "$attempt" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
		    break
		echo "apt-get install clang libclang-rt-14-dev"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev \
		    </dev/null >"$t/apt.log" 2>&1 || {
			apt-get update -q </dev/null >>"$t/apt.log" 2>&1 &&
			apt-get install -y -q --no-install-recommends clang \
			    libclang-rt-14-dev </dev/null >>"$t/apt.log" 2>&1
		} || cat "$t/apt.log" >&2
	done
	rm -rf "$t"
	die "no clang with libFuzzer (${FUZZ_CC:-clang clang-14}): apt-get install clang libclang-rt-14-dev"
}

# newer OUT FILE...: is any FILE newer than OUT (or OUT missing)?
newer() {
	local out=$1 f
	shift
	[ -e "$out" ] || return 0
	for f in "$@"; do
		[ "$f" -nt "$out" ] && return 0
	done
	return 1
}

do_build() {
	local dir=$1 t srcs deps st=0 flags
	case $dir in /*) ;; *) dir=$PWD/$dir;; esac
	mkdir -p "$dir" || exit 1
	find_cc
	flags="$CC $FUZZ_CFLAGS ${COMMON_CFLAGS[*]}"
	# Flags changed: everything again.
	if [ "$(cat "$dir/.flags" 2>/dev/null)" != "$flags" ]; then
		rm -f "$dir/.flags" "${TARGETS[@]/#/$dir/}" "$dir/make_corpus"
		printf '%s\n' "$flags" >"$dir/.flags"
	fi
	for t in "${TARGETS[@]}" make_corpus; do
		srcs=$(sources "$t")
		deps=("$HERE/$t.c" "$HERE/fuzz.h" "$ROOT"/lib/*.h)
		for s in $srcs; do deps+=("$ROOT/$s"); done
		newer "$dir/$t" "${deps[@]}" || continue
		# Never leave an old binary behind a failed build.
		rm -f "$dir/$t"
		if [ "$t" = make_corpus ]; then
			echo "$CC -o $dir/$t tests/fuzz/$t.c $srcs"
			(cd "$ROOT" && "$CC" -O1 -g "${COMMON_CFLAGS[@]}" -o "$dir/$t" \
			    "tests/fuzz/$t.c" $srcs) || st=1
		else
			echo "$CC $FUZZ_CFLAGS -o $dir/$t tests/fuzz/$t.c $srcs"
			# shellcheck disable=SC2086
			(cd "$ROOT" && "$CC" $FUZZ_CFLAGS "${COMMON_CFLAGS[@]}" \
			    -o "$dir/$t" "tests/fuzz/$t.c" $srcs) || st=1
		fi
	done
	return "$st"
}

do_corpus() {
	local dir=$1
	[ -x "$dir/make_corpus" ] || die "$dir/make_corpus missing: run.sh build $dir"
	"$dir/make_corpus" "$HERE/corpus"
}

# run_target DIR OUTDIR SECONDS TARGET: one libFuzzer run; writes
# OUTDIR/TARGET.out and OUTDIR/TARGET.status ("STATUS SECONDS NOTE").
run_target() {
	local dir=$1 out=$2 secs=$3 t=$4 st=0 t0=$SECONDS note= input seeds
	local work=$out/$t.corpus
	rm -rf "$work"
	mkdir -p "$work" "$dir/crashes"
	if [ ! -x "$dir/$t" ]; then
		echo "$dir/$t missing: build it first (make fuzz-build)" >"$out/$t.out"
		echo "1 0 $dir/$t missing" >"$out/$t.status"
		return
	fi
	cp -R "$HERE/corpus/$t/." "$work/" 2>/dev/null
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
	# Every corpus input once, whole (the fuzzing below cuts inputs to
	# -max_len); then the fuzzing.
	: >"$out/$t.out"
	seeds=("$work"/*)
	if [ -e "${seeds[0]}" ]; then
		timeout -k 10 120 "$dir/$t" -timeout=10 \
		    -artifact_prefix="$dir/crashes/$t-" "${seeds[@]}" \
		    >>"$out/$t.out" 2>&1 </dev/null || st=$?
	fi
	# shellcheck disable=SC2086
	[ "$st" != 0 ] ||
	    timeout -k 10 $((secs + 120)) "$dir/$t" -max_total_time="$secs" \
	    -max_len=4096 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$dir/crashes/$t-" ${FUZZ_ARGS:-} "$work" \
	    >>"$out/$t.out" 2>&1 </dev/null || st=$?
	case $st in
	0) ;;
	124 | 137) note="timed out";;
	*) note="exit status $st";;
	esac
	input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out/$t.out" | tail -n 1)
	# A corpus input that fails on replay: the one libFuzzer ran last.
	if [ "$st" != 0 ] && [ -z "$input" ]; then
		input=$(sed -n 's/^Running: \(.*\)$/\1/p' "$out/$t.out" | tail -n 1)
		input=${input/#$work/tests\/fuzz\/corpus\/$t}
	fi
	if [ -n "$input" ]; then
		note="$note; input $input"
		printf '\nreproduce: %s %s\n' "$dir/$t" "$input" >>"$out/$t.out"
	fi
	echo "$st $((SECONDS - t0)) $note" >"$out/$t.status"
}

# One line of libFuzzer's final numbers.
stats() {
	local f=$1 done
	done=$(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$f" | tail -n 1)
	[ -n "$done" ] || return 0
	echo "$done" | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/\1 runs, /; s/[[:space:]]+/ /g'
}

do_run() {
	local secs=60 jobs=2 out= dir=$ROOT/build-fuzz quiet=0 opt t running=0 failed=0
	local st s note
	OPTIND=1
	while getopts t:j:o:d:q opt; do
		case $opt in
		t) secs=$OPTARG;;
		j) jobs=$OPTARG;;
		o) out=$OPTARG;;
		d) dir=$OPTARG;;
		q) quiet=1;;
		*) die "usage: run.sh run [-t SECONDS] [-j JOBS] [-o OUTDIR] [-d DIR] [-q] [TARGET...]";;
		esac
	done
	shift $((OPTIND - 1))
	case $secs in '' | *[!0-9]*) die "-t $secs: not a number of seconds";; esac
	case $jobs in '' | *[!0-9]* | 0) die "-j $jobs: not a number of jobs";; esac
	[ $# -gt 0 ] || set -- "${TARGETS[@]}"
	case $dir in /*) ;; *) dir=$PWD/$dir;; esac
	[ -n "$out" ] || out=$dir/run
	mkdir -p "$out" || exit 1
	: >"$out/results"
	for t in "$@"; do
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
		run_target "$dir" "$out" "$secs" "$t" &
		running=$((running + 1))
	done
	wait
	for t in "$@"; do
		read -r st s note <"$out/$t.status" || { st=1; s=0; note="no status"; }
		echo "$t $st $s $note" >>"$out/results"
		[ "$st" = 0 ] || failed=$((failed + 1))
		[ "$quiet" = 1 ] && continue
		if [ "$st" = 0 ]; then
			echo "PASS $t (${s}s; $(stats "$out/$t.out"))"
		else
			echo "FAIL $t (${s}s, $note)"
			tail -n 150 "$out/$t.out" | sed 's/^/    /'
		fi
	done
	[ "$failed" = 0 ]
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
build) do_build "${1:-$ROOT/build-fuzz}";;
corpus) do_corpus "${1:-$ROOT/build-fuzz}";;
run) do_run "$@";;
list) printf '%s\n' "${TARGETS[@]}";;
*) die "usage: run.sh build|corpus|run|list (see the comment at its top)";;
esac
