#!/usr/bin/env bash
# tests/run.sh [PATTERN...]     run the test suite
# tests/run.sh --demo           the demonstration of "make demo"
#
# In order: the unit tests (BUILD/test_*), then every tests/integration/*.sh
# through tests/nsrun.sh (unprivileged, /dev/fuse unusable), once per build
# directory: build, then build-asan with the sanitizers set to fail hard;
# then the libFuzzer targets of tests/fuzz (build/fuzz/*).
# Prints "PASS name" or "FAIL name" (with the test's output, indented) for
# each test, and ends with the line "N passed, N failed".  Exit status 0 only
# when none failed.
#
# The kernel tests, tests/kernel/*.sh (the kernel front-end against kernel
# FUSE), run after the namespace tests, as root outside that namespace, for
# build and build-asan, only where we are root and /dev/fuse can be opened;
# elsewhere each is a "SKIP name (reason)" line, neither passed nor failed,
# and the last line then ends with ", N skipped".
#
# PATTERN: run only the tests whose name (e.g. build-asan/memfs_rw) contains
# one of the patterns.
# Environment: PERFUSE_BUILDS (default "build build-asan"),
# PERFUSE_TEST_TIMEOUT (seconds per test, default 120), PERFUSE_KEEP=1 (keep
# the tests' temporary directories), PERFUSE_DEBUG=FLAGS (perfused -d FLAGS),
# PERFUSE_FUZZ_BUILD (where make fuzz-build put the fuzz targets, default
# build-fuzz), PERFUSE_FUZZ_SECONDS (per fuzz target, default 30).
# Kernel tests: PERFUSE_KERNEL_TIMEOUT (seconds per test, default 900),
# PERFUSE_KERNEL_BUILDS (the trees they run for, of PERFUSE_BUILDS; default
# "build build-asan").
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILDS=${PERFUSE_BUILDS:-build build-asan}
TIMEOUT=${PERFUSE_TEST_TIMEOUT:-120}
KERNEL_TIMEOUT=${PERFUSE_KERNEL_TIMEOUT:-900}
KERNEL_BUILDS=${PERFUSE_KERNEL_BUILDS:-build build-asan}
ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)

passed=0
failed=0
skipped=0
failed_names=()
STAGE=

cleanup() {
	[ -z "$STAGE" ] || rm -rf -- "$STAGE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The tests run as another user, who may not be able to read the work tree
# (a clone under /root, say): copy the scripts and the build outputs to a
# world-readable directory.
stage() {
	local b f
	STAGE=$(mktemp -d /tmp/perfuse-check.XXXXXX) || exit 1
	mkdir -p "$STAGE/tests"
	cp -R "$ROOT/tests/lib.sh" "$ROOT/tests/nsrun.sh" "$ROOT/tests/run.sh" \
	    "$ROOT/tests/integration" "$ROOT/tests/data" "$STAGE/tests/"
	# The kernel tests' scripts (their programs are staged per build).
	mkdir -p "$STAGE/tests/kernel"
	cp "$ROOT"/tests/kernel/*.sh "$STAGE/tests/kernel/" 2>/dev/null || true
	for b in $BUILDS; do
		mkdir -p "$STAGE/$b"
		[ -d "$ROOT/$b" ] || continue
		# Executables and shared libraries (with their symlinks): the
		# build rpath is $ORIGIN, so they work side by side.
		for f in "$ROOT/$b"/*; do
			[ -f "$f" ] || continue
			case $f in
			*.so | *.so.*) cp -P "$f" "$STAGE/$b/";;
			*) [ -x "$f" ] && cp -P "$f" "$STAGE/$b/";;
			esac
		done
		# The preload shim and the fusermount stand-ins live in
		# subdirectories, where perfused looks for them.
		for f in preload/libperfuse_preload.so fusermount/fusermount \
		    fusermount/fusermount3 tests/kernel/diffops tests/kernel/ioloop; do
			[ -e "$ROOT/$b/$f" ] || continue
			mkdir -p "$STAGE/$b/$(dirname "$f")"
			cp -P "$ROOT/$b/$f" "$STAGE/$b/$f"
		done
		stage_install "$b"
	done
	chmod -R a+rX,go-w "$STAGE"
}

# For tests/integration/install.sh: "meson install" of build $1 into
# $STAGE/$1/install/dest, with meson's list of what it installed beside it
# (install-log.txt) and its output (meson-install.log).  Made here, as the
# caller, because meson install writes its log into the build directory,
# which the test's unprivileged user cannot write.  Only when that test is
# selected (not for --demo).
stage_install() {
	local b=$1 d=$STAGE/$1/install
	declare -p PATTERNS >/dev/null 2>&1 || return 0
	selected "$b/install" || return 0
	[ -f "$ROOT/$b/build.ninja" ] || return 0
	mkdir -p "$d"
	if meson install -C "$ROOT/$b" --no-rebuild --destdir "$d/dest" \
	    >"$d/meson-install.log" 2>&1; then
		cp "$ROOT/$b/meson-logs/install-log.txt" "$d/install-log.txt"
	fi
	cp "$ROOT/Makefile" "$d/Makefile"
}

# record NAME STATUS SECONDS OUTPUT_FILE [NOTE]
record() {
	local name=$1 st=$2 secs=$3 out=$4 note=${5:-}
	if [ "$st" = 0 ]; then
		passed=$((passed + 1))
		echo "PASS $name (${secs}s)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "FAIL $name (${secs}s${note:+, $note})"
		if [ -s "$out" ]; then
			tail -n 150 "$out" | sed 's/^/    /'
		fi
	fi
}

# record_skip NAME REASON: a test that cannot run here; neither passed
# nor failed.
record_skip() {
	skipped=$((skipped + 1))
	echo "SKIP $1 ($2)"
}

# run_one NAME CMD...: run with a timeout, output captured.
run_one() {
	local name=$1 out st=0 t0 note=
	shift
	out=$(mktemp "$STAGE/out.XXXXXX")
	t0=$SECONDS
	timeout -k 10 "$TIMEOUT" "$@" >"$out" 2>&1 </dev/null || st=$?
	case $st in
	124 | 137) note="timed out after ${TIMEOUT}s";;
	125) note="could not run (status 125)";;
	0) ;;
	*) note="exit status $st";;
	esac
	record "$name" "$st" $((SECONDS - t0)) "$out" "$note"
	rm -f -- "$out"
}

selected() {
	local p
	[ ${#PATTERNS[@]} -gt 0 ] || return 0
	for p in "${PATTERNS[@]}"; do
		case $1 in *"$p"*) return 0;; esac
	done
	return 1
}

build_env() {
	case $1 in
	*asan*) printf '%s\n' "${ASAN_ENV[@]}";;
	esac
}

# ---------------------------------------------------------------------------
# make demo: runs inside tests/nsrun.sh, as the unprivileged user.

demo_inside() {
	set -euo pipefail
	export LC_ALL=C
	export PATH="$BUILD:$PATH"
	local d=$TMPDIR/demo
	run() {
		printf '\n$ %s\n' "$*"
		"$@"
	}
	mkdir -p "$d/src/docs"
	printf 'Hello from a squashfs image, served without /dev/fuse.\n' \
	    >"$d/src/hello.txt"
	printf 'perfuse plays the kernel side of FUSE in userspace.\n' \
	    >"$d/src/docs/README"
	seq 1 5 >"$d/src/docs/numbers.txt"
	ln -s docs/README "$d/src/readme-link"

	echo "# Running as $(id -un 2>/dev/null || id -u) (uid $(id -u)), no capabilities,"
	echo "# in a mount namespace where /dev/fuse cannot be opened:"
	run ls -l /dev/fuse
	run sh -c 'exec 3<>/dev/fuse' || true
	run grep CapEff /proc/self/status
	run mksquashfs "$d/src" "$d/demo.sqfs" -noappend -quiet -no-progress
	run perfuse mount -- squashfuse "$d/demo.sqfs" /demo
	run perfuse list
	run perfuse ls -l /demo
	run perfuse ls /demo/docs
	run perfuse cat /demo/hello.txt
	run perfuse readlink /demo/readme-link
	run perfuse cat /demo/readme-link
	run perfuse stat /demo/docs/numbers.txt
	run perfuse df /demo
	run perfuse umount /demo
	if [ -x "$BUILD/memfs" ]; then
		echo
		echo "# The same with the in-memory example filesystem, read-write:"
		run perfuse mount -- memfs /mem
		run perfuse mkdir -p /mem/a/b
		run perfuse put "$d/src/hello.txt" /mem/a/b/hello.txt
		run perfuse ls -l /mem/a/b
		run perfuse cat /mem/a/b/hello.txt
		run perfuse umount /mem
	fi
	run perfuse list
	echo
	echo "# done"
}

if [ "${1:-}" = --demo-inside ]; then
	demo_inside
	exit $?
fi

if [ "${1:-}" = --demo ]; then
	BUILDS=${BUILDS%% *}
	stage
	st=0
	bash "$STAGE/tests/nsrun.sh" env BUILD="$STAGE/$BUILDS" \
	    bash "$STAGE/tests/run.sh" --demo-inside || st=$?
	exit "$st"
fi

PATTERNS=("$@")
stage

# 1. Unit tests (run from the top of the work tree, as the caller).
cd "$ROOT" || exit 1
for b in $BUILDS; do
	if [ ! -x "$ROOT/$b/perfused" ]; then
		selected "$b" &&
		    record "$b" 1 0 /dev/null "$ROOT/$b/perfused missing: build first (make)"
		continue
	fi
	mapfile -t envs < <(build_env "$b")
	found=0
	for t in "$ROOT/$b"/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		found=1
		name="$b/unit/$(basename "$t")"
		selected "$name" || continue
		run_one "$name" env "${envs[@]}" "$t"
	done
	if [ "$found" = 0 ] && selected "$b/unit"; then
		record "$b/unit" 1 0 /dev/null "no test_* programs in $b"
	fi
done

# 2. Integration tests, as an unprivileged user without /dev/fuse.
for b in $BUILDS; do
	[ -x "$ROOT/$b/perfused" ] || continue
	mapfile -t envs < <(build_env "$b")
	for t in "$STAGE"/tests/integration/*.sh; do
		[ -f "$t" ] || continue
		name="$b/$(basename "$t" .sh)"
		selected "$name" || continue
		run_one "$name" bash "$STAGE/tests/nsrun.sh" env "${envs[@]}" \
		    BUILD="$STAGE/$b" bash "$t"
	done
done

# Kernel tests: the kernel front-end against kernel FUSE, as root and
# outside the namespace of the integration tests (each test makes a private
# mount and pid namespace of its own, so that its mounts end with it), only
# where /dev/fuse can be opened.
kernel_skip_reason() {
	if [ "$(id -u)" != 0 ]; then
		echo "needs root; running as uid $(id -u)"
	elif [ ! -e /dev/fuse ]; then
		echo "no /dev/fuse"
	elif ! (exec 3<>/dev/fuse) 2>/dev/null; then
		echo "/dev/fuse cannot be opened"
	elif ! command -v unshare >/dev/null; then
		echo "unshare (util-linux) is missing"
	fi
}

kernel_reason=$(kernel_skip_reason)
for b in $BUILDS; do
	case " $KERNEL_BUILDS " in *" $b "*) ;; *) continue;; esac
	[ -x "$ROOT/$b/perfused" ] || continue
	mapfile -t envs < <(build_env "$b")
	for t in "$STAGE"/tests/kernel/*.sh; do
		[ -f "$t" ] || continue
		name="$b/kernel/$(basename "$t" .sh)"
		selected "$name" || continue
		if [ -n "$kernel_reason" ]; then
			record_skip "$name" "$kernel_reason"
			continue
		fi
		saved_timeout=$TIMEOUT
		TIMEOUT=$KERNEL_TIMEOUT
		run_one "$name" env "${envs[@]}" BUILD="$STAGE/$b" bash "$t"
		TIMEOUT=$saved_timeout
	done
done

# The libFuzzer targets (tests/fuzz/run.sh, built by make fuzz-build), each
# for PERFUSE_FUZZ_SECONDS on a copy of its seed corpus, two at a time on the
# two cores, as the caller.
fuzz_sel=()
if [ -f "$ROOT/tests/fuzz/run.sh" ]; then
	for t in $(bash "$ROOT/tests/fuzz/run.sh" list); do
		selected "build/fuzz/$t" && fuzz_sel+=("$t")
	done
fi
if [ ${#fuzz_sel[@]} -gt 0 ]; then
	fuzz_out=$(mktemp -d "$STAGE/fuzz.XXXXXX")
	bash "$ROOT/tests/fuzz/run.sh" run -q -t "${PERFUSE_FUZZ_SECONDS:-30}" -j 2 \
	    -d "${PERFUSE_FUZZ_BUILD:-build-fuzz}" -o "$fuzz_out" "${fuzz_sel[@]}"
	for t in "${fuzz_sel[@]}"; do
		# results: "TARGET STATUS SECONDS NOTE" lines
		read -r st secs note < <(sed -n "s/^$t //p" "$fuzz_out/results" 2>/dev/null) ||
		    { st=1; secs=0; note="no result from tests/fuzz/run.sh"; }
		record "build/fuzz/$t" "$st" "$secs" "$fuzz_out/$t.out" "$note"
	done
fi

echo
if [ "$failed" -gt 0 ]; then
	echo "failed:"
	for n in "${failed_names[@]}"; do
		echo "  $n"
	done
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
