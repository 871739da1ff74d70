# tests/lib.sh - helpers for the integration tests (tests/integration/*.sh).
#
# Source it first thing:   . "$(dirname "$0")/../lib.sh"
#
# Needs BUILD, the directory holding perfused, perfuse and memfs (tests/run.sh
# sets it to a staged copy of build/ or build-asan/).  Sourcing it:
#  - turns on set -euo pipefail and LC_ALL=C;
#  - makes a temporary directory $T for this test (removed at exit unless
#    PERFUSE_KEEP=1);
#  - starts a private "$BUILD/perfused -f -s $T/perfused.sock" and exports
#    PERFUSE_SOCKET so that every perfuse command of the test talks to it;
#  - at exit, checks that perfused is still alive (a test fails if perfused
#    died), stops it, fails the test if it then exited badly or if a
#    sanitizer reported anything in its log, and prints that log when the
#    test failed.
# PERFUSE_DEBUG=FLAGS passes "-d FLAGS" to perfused (its log is $T/perfused.log).
# Set PERFUSE_LIB_NO_DAEMON=1 before sourcing to get the helpers only.

# shellcheck disable=SC2034 # variables set here are for the tests
set -euo pipefail
export LC_ALL=C
umask 022

: "${BUILD:?BUILD must name the build directory (build or build-asan)}"
BUILD=$(cd "$BUILD" && pwd)
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)
PERFUSE=$BUILD/perfuse
PERFUSED=$BUILD/perfused
MEMFS=$BUILD/memfs

T=$(mktemp -d "${TMPDIR:-/tmp}/pf-$TEST_NAME.XXXXXX")
export PERFUSE_SOCKET=$T/perfused.sock
PERFUSED_PID=
PERFUSED_LOG=$T/perfused.log

# ---------------------------------------------------------------------------
# Reporting

log() {
	echo "== [${SECONDS}s] $*"
}

FAIL_LINES=()
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	FAIL_LINES+=("$*")
	exit 1
}

# Show what a command prints, indented, for failure messages.
show() {
	local label=$1 file=$2
	echo "--- $label:" >&2
	if [ -s "$file" ]; then
		head -c 4000 "$file" | sed 's/^/  | /' >&2
	else
		echo "  (empty)" >&2
	fi
}

# ---------------------------------------------------------------------------
# Running perfuse

# The perfuse command of the build under test.
pf() {
	"$PERFUSE" "$@"
}

# pf_ok CMD ARGS...: run perfuse, fail the test with its stderr if it fails.
# Its stdout goes to our stdout.
pf_ok() {
	local rc=0
	"$PERFUSE" "$@" 2>"$T/pf_ok.err" || rc=$?
	if [ "$rc" != 0 ]; then
		show "stderr" "$T/pf_ok.err"
		fail "perfuse $*: exit status $rc, expected 0"
	fi
	cat "$T/pf_ok.err" >&2
}

# expect_fail CODE CMD ARGS...: CMD must exit with status CODE and its
# stderr must start with "perfuse: ".  Usage errors (status 2) may instead
# name the subcommand ("perfuse mount: missing FS_COMMAND") or start with
# the usage line ("usage: perfuse ...").  Afterwards OUT and ERR hold the
# command's stdout and stderr.
expect_fail() {
	local want=$1 rc=0
	shift
	"$@" >"$T/xf.out" 2>"$T/xf.err" </dev/null || rc=$?
	OUT=$(cat "$T/xf.out")
	ERR=$(cat "$T/xf.err")
	if [ "$rc" != "$want" ]; then
		show "stdout" "$T/xf.out"
		show "stderr" "$T/xf.err"
		fail "$*: exit status $rc, expected $want"
	fi
	case $ERR in
	"perfuse: "*) return 0;;
	"perfuse "[a-z]*": "* | "usage: "*) [ "$want" != 2 ] || return 0;;
	esac
	show "stderr" "$T/xf.err"
	fail "$*: stderr does not start with 'perfuse: '"
}

# ---------------------------------------------------------------------------
# Assertions

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	local exp=$1 act=$2 what=${3:-value}
	if [ "$exp" != "$act" ]; then
		printf '%s\n' "$exp" >"$T/assert.exp"
		printf '%s\n' "$act" >"$T/assert.act"
		echo "--- $what: expected (-) vs got (+):" >&2
		diff -u "$T/assert.exp" "$T/assert.act" | tail -n +3 | head -n 60 |
		    sed 's/^/  /' >&2 || true
		fail "$what differs from what was expected"
	fi
}

# assert_file_eq EXPECTED_FILE ACTUAL_FILE [WHAT]: byte for byte.
assert_file_eq() {
	local exp=$1 act=$2 what=${3:-$2}
	[ -e "$act" ] || fail "$what: $act does not exist"
	if ! cmp "$exp" "$act" >"$T/cmp.out" 2>&1; then
		cat "$T/cmp.out" >&2
		echo "  expected $(stat -c %s "$exp") bytes, got $(stat -c %s "$act")" >&2
		fail "$what: content differs from $exp"
	fi
}

# assert_contains TEXT NEEDLE [WHAT]: NEEDLE is a fixed string.
assert_contains() {
	local text=$1 needle=$2 what=${3:-output}
	if ! grep -qF -- "$needle" <<<"$text"; then
		echo "--- $what:" >&2
		printf '%s\n' "$text" | head -n 40 | sed 's/^/  | /' >&2
		fail "$what does not contain '$needle'"
	fi
}

# assert_not_contains TEXT NEEDLE [WHAT]
assert_not_contains() {
	local text=$1 needle=$2 what=${3:-output}
	if grep -qF -- "$needle" <<<"$text"; then
		echo "--- $what:" >&2
		printf '%s\n' "$text" | head -n 40 | sed 's/^/  | /' >&2
		fail "$what contains '$needle'"
	fi
}

# assert_match TEXT ERE [WHAT]: some line of TEXT matches the extended regex.
assert_match() {
	local text=$1 re=$2 what=${3:-output}
	if ! grep -qE -- "$re" <<<"$text"; then
		echo "--- $what:" >&2
		printf '%s\n' "$text" | head -n 40 | sed 's/^/  | /' >&2
		fail "$what has no line matching /$re/"
	fi
}

# ---------------------------------------------------------------------------
# Test data (generated at test time; nothing binary is kept in the repo)

# rand_file PATH BYTES
rand_file() {
	head -c "$2" /dev/urandom >"$1"
}

# make_tree DIR: the tree the read-only tests serve.  Text files, a 5 MiB
# random file, symlinks, nested directories, a directory of 1000 entries,
# a hidden file, a name with a space, an empty file, various modes.
make_tree() {
	local d=$1 i name
	mkdir -p "$d"
	cp "$TESTS_DIR/data/lorem.txt" "$d/lorem.txt"
	printf 'hello, perfuse\n' >"$d/hello.txt"
	printf 'a hidden file\n' >"$d/.hidden"
	printf 'spaces in the name\n' >"$d/with space.txt"
	: >"$d/empty"
	printf '#!/bin/sh\necho hi\n' >"$d/script.sh"
	chmod 755 "$d/script.sh"
	printf 'secret\n' >"$d/private.txt"
	chmod 600 "$d/private.txt"
	rand_file "$d/big.bin" $((5 * 1024 * 1024))
	# An odd size that is not a multiple of any page or block size.
	rand_file "$d/odd.bin" 131075
	ln -s hello.txt "$d/link"
	ln -s sub/deep/deeper/leaf.txt "$d/link-deep"
	ln -s does-not-exist "$d/dangling"
	mkdir -p "$d/sub/deep/deeper" "$d/sub/emptydir"
	printf 'leaf\n' >"$d/sub/deep/deeper/leaf.txt"
	printf 'middle\n' >"$d/sub/deep/middle.txt"
	ln -s ../hello.txt "$d/sub/up"
	seq 1 20000 >"$d/sub/numbers.txt"
	mkdir "$d/many"
	for ((i = 0; i < 1000; i++)); do
		printf -v name 'f%04d' "$i"
		printf 'entry %s\n' "$name" >"$d/many/$name"
	done
}

# make_squashfs SRCDIR IMAGE
make_squashfs() {
	mksquashfs "$1" "$2" -noappend -quiet -no-progress -no-xattrs \
	    >"$T/mksquashfs.log" 2>&1 || {
		cat "$T/mksquashfs.log" >&2
		fail "mksquashfs $1 failed"
	}
}

# ---------------------------------------------------------------------------
# Mounts

# mount_field TARGET N: field N of the TARGET line of "perfuse list"
# (1 target, 2 command, 3 pid, 4 7.minor); empty when not listed.
mount_field() {
	local list
	list=$("$PERFUSE" list) || fail "perfuse list failed"
	awk -F '\t' -v t="$1" -v n="$2" '$1 == t { print $n }' <<<"$list"
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) ||
	    return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# wait_gone PID [SECONDS]: wait for a process to go away.
wait_gone() {
	local pid=$1 n=$(( ${2:-10} * 10 ))
	while pid_alive "$pid"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------
# Filesystems that perfused starts through the preload shim or the
# fusermount stand-ins (tests/integration/attach_*.sh)

# procs_with_arg STRING: the pids of the live processes one of whose
# arguments is exactly STRING (a mountpoint, an image), one a line.
procs_with_arg() {
	local p pid a
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then
			continue
		fi
		while IFS= read -r -d '' a; do
			if [ "$a" = "$1" ]; then
				if pid_alive "$pid"; then echo "$pid"; fi
				break
			fi
		done 2>/dev/null <"$p/cmdline" || true
	done
	return 0
}

# serving_pid STRING WHAT: the one live process with the argument STRING
# (waiting up to 5 s for a daemonizing parent to exit).
serving_pid() {
	local n=50 pids
	while :; do
		pids=$(procs_with_arg "$1")
		if [ -n "$pids" ] && [ "$(wc -l <<<"$pids")" = 1 ]; then
			echo "$pids"
			return 0
		fi
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			[ -z "$pids" ] || ps -o pid,ppid,args -p "$(paste -sd, <<<"$pids")" >&2 || true
			fail "$2: expected one process with the argument $1, found" \
			    "$(wc -w <<<"$pids")"
		fi
		sleep 0.1
	done
}

# proc_env PID NAME: the value of NAME in the environment of process PID.
proc_env() {
	local v
	v=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | sed -n "s/^$2=//p") || true
	printf '%s\n' "$v"
}

# assert_attach TARGET METHOD: perfused started the filesystem of TARGET
# with METHOD (fd, preload or fusermount), as its log says.
assert_attach() {
	local line
	line=$(grep -F "$1: starting " "$PERFUSED_LOG" | tail -n 1) || true
	[ -n "$line" ] || fail "no 'starting' line for $1 in perfused's log"
	case $line in
	*"attach=$2)"*) ;;
	*) fail "$1 was started with the wrong method (expected attach=$2): $line";;
	esac
}

# assert_listed TARGET WORD [PID]: "perfuse list" has exactly one line for
# TARGET, with four fields, WORD in its command and a 7.N protocol; its pid
# is PID, the process serving the mount (else a deferred failure: the rest
# of the test still runs).  Sets LISTED_PID.
assert_listed() {
	local list line n=30
	list=$(pf_ok list)
	# perfused learns the pid of a daemonized filesystem when the parent
	# it started exits, which may be a moment after INIT.
	while [ -n "${3:-}" ] && [ "$n" -gt 0 ] &&
	    [ "$(awk -F '\t' -v t="$1" '$1 == t { print $3 }' <<<"$list")" != "$3" ]; do
		sleep 0.1
		n=$((n - 1))
		list=$(pf_ok list)
	done
	assert_eq 1 "$(awk -F '\t' -v t="$1" '$1 == t' <<<"$list" | wc -l)" \
	    "number of '$1' lines in perfuse list"
	line=$(awk -F '\t' -v t="$1" '$1 == t' <<<"$list")
	assert_eq 4 "$(awk -F '\t' '{ print NF }' <<<"$line")" "fields in '$line'"
	assert_contains "$(cut -f2 <<<"$line")" "$2" "command of $1 in perfuse list"
	LISTED_PID=$(cut -f3 <<<"$line")
	assert_match "$LISTED_PID" '^[1-9][0-9]*$' "pid field of '$line'"
	assert_match "$(cut -f4 <<<"$line")" '^7\.[0-9]+$' "protocol field of '$line'"
	if [ -n "${3:-}" ] && [ "$LISTED_PID" != "$3" ]; then
		local state="not running"
		if pid_alive "$LISTED_PID"; then state=running; fi
		defer_fail "perfuse list gives pid $LISTED_PID ($state) for $1," \
		    "but pid $3 serves it"
	fi
}

# assert_ended WHAT PID...: "perfuse umount" has returned, and it waits for
# the filesystem to exit, so none of PIDS may still run (a deferred
# failure); each must at least be gone 10 s later (a failure).
assert_ended() {
	local what=$1 pid late=
	shift
	for pid in "$@"; do
		if pid_alive "$pid"; then late="$late $pid"; fi
	done
	[ -n "$late" ] || return 0
	defer_fail "$what: still running right after perfuse umount returned" \
	    "(pid$late); umount is to wait for the filesystem to exit"
	for pid in $late; do
		wait_gone "$pid" 10 || fail "$what (pid $pid) still runs 10 s after perfuse umount"
	done
}

# defer_fail MESSAGE: report a failure but go on with the test, so that the
# rest of it still runs; fail_deferred (at the end) then fails the test.
DEFERRED_FAILS=0
defer_fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	FAIL_LINES+=("$*")
	DEFERRED_FAILS=$((DEFERRED_FAILS + 1))
}
fail_deferred() {
	[ "$DEFERRED_FAILS" = 0 ] ||
	    fail "$DEFERRED_FAILS check(s) failed above (FAIL lines); the rest passed"
}

# asan_allow_shim: in the sanitizer tree (build-asan) memfs and the
# fusermount stand-ins are linked with the ASan runtime, while the preload
# shim is built without sanitizers (preload/meson.build: a sanitizer runtime
# cannot be preloaded into an ordinary program).  perfused puts the shim
# first in LD_PRELOAD of every filesystem it starts with attach=preload or
# fusermount, and the stand-ins inherit it from the filesystem that runs
# them, so ASan would refuse to start those programs ("ASan runtime does
# not come first in initial library list").  verify_asan_link_order=0 turns
# off only that check: the programs then run, sanitizers on, with the shim
# loaded first.  The filesystems get the environment of "perfuse mount",
# so exporting it here reaches them.  Nothing changes in the normal tree.
asan_allow_shim() {
	local f
	for f in "$MEMFS" "$BUILD/fusermount/fusermount3" "$BUILD/fusermount/fusermount"; do
		if [ -e "$f" ] && ldd "$f" 2>/dev/null | grep -q libasan; then
			export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
			log "sanitizer tree: ASAN_OPTIONS=$ASAN_OPTIONS (the shim is preloaded into ASan programs)"
			return 0
		fi
	done
	return 0
}

# ---------------------------------------------------------------------------
# perfused

start_perfused() {
	local n=100
	# shellcheck disable=SC2086
	# In a session of its own, so that the signal with which timeout(1)
	# stops a hung test is not taken for perfused dying by itself.
	setsid "$PERFUSED" -f ${PERFUSE_DEBUG:+-d "$PERFUSE_DEBUG"} \
	    -s "$PERFUSE_SOCKET" >>"$PERFUSED_LOG" 2>&1 </dev/null &
	PERFUSED_PID=$!
	until [ -S "$PERFUSE_SOCKET" ]; do
		if ! pid_alive "$PERFUSED_PID"; then
			local st=0
			wait "$PERFUSED_PID" || st=$?
			PERFUSED_PID=
			show "perfused log" "$PERFUSED_LOG"
			fail "perfused exited (status $st) before creating its socket"
		fi
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			show "perfused log" "$PERFUSED_LOG"
			fail "perfused did not create $PERFUSE_SOCKET within 10 s"
		fi
		sleep 0.1
	done
}

assert_perfused_alive() {
	[ -n "$PERFUSED_PID" ] || return 0
	pid_alive "$PERFUSED_PID" || fail "perfused (pid $PERFUSED_PID) died"
}

# Stop perfused; returns non-zero with a message when it had died, when it
# did not exit cleanly on SIGTERM, or when a sanitizer spoke in its log.
stop_perfused() {
	local pid=$PERFUSED_PID st=0 bad=0 n=100
	PERFUSED_PID=
	[ -n "$pid" ] || return 0
	if ! pid_alive "$pid"; then
		wait "$pid" || st=$?
		echo "FAIL: $TEST_NAME: perfused died during the test (wait status $st)" >&2
		bad=1
	else
		kill -TERM "$pid" 2>/dev/null || true
		while pid_alive "$pid" && [ "$n" -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
		if pid_alive "$pid"; then
			echo "FAIL: $TEST_NAME: perfused still running 10 s after SIGTERM" >&2
			kill -KILL "$pid" 2>/dev/null || true
			bad=1
		fi
		wait "$pid" || st=$?
		case $st in
		0 | 143) ;;
		*)
			echo "FAIL: $TEST_NAME: perfused exited with status $st after SIGTERM" >&2
			bad=1;;
		esac
	fi
	if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|SUMMARY: .*Sanitizer' \
	    "$PERFUSED_LOG" 2>/dev/null; then
		echo "FAIL: $TEST_NAME: sanitizer report in perfused's log" >&2
		bad=1
	fi
	return "$bad"
}

_lib_exit() {
	local rc=$?
	set +e
	if [ -n "$PERFUSED_PID" ]; then
		stop_perfused || rc=1
	fi
	if [ "$rc" != 0 ] && [ -s "$PERFUSED_LOG" ]; then
		echo "--- perfused log (last 80 lines):" >&2
		tail -n 80 "$PERFUSED_LOG" | sed 's/^/  | /' >&2
	fi
	# The failures once more, last, where a truncated output still shows them.
	if [ "$rc" != 0 ] && [ ${#FAIL_LINES[@]} -gt 0 ]; then
		echo "--- the failed checks, again:" >&2
		printf 'FAIL: %s\n' "${FAIL_LINES[@]}" >&2
	fi
	if [ "${PERFUSE_KEEP:-0}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf -- "$T"
	fi
	exit "$rc"
}

trap _lib_exit EXIT
trap 'echo "FAIL: $TEST_NAME: interrupted (timed out?)" >&2; exit 130' INT TERM HUP

if [ "${PERFUSE_LIB_NO_DAEMON:-0}" != 1 ]; then
	for f in "$PERFUSE" "$PERFUSED"; do
		[ -x "$f" ] || fail "$f is missing: build first (make)"
	done
	start_perfused
fi
