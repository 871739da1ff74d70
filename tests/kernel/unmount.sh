#!/usr/bin/env bash
# tests/kernel/unmount.sh - every way a kernel mount through perfused ends.
#
# memfs mounted through perfused with a kernel mount ("perfuse mount --
# memfs DIR"), ended:
#  1. by "perfuse umount DIR" (and, with --no-kernel, the same directory
#     is served through perfuse only);
#  2. by the user's umount(8) of DIR (perfused notices, DESTROYs memfs);
#  3. by "fusermount3 -u DIR";
#  4. by SIGKILL to memfs while a reader loops over a large file through
#     the kernel mount: the reader ends within a few seconds with ENOTCONN
#     or EIO, and perfused takes the kernel mount away;
#  5. by SIGTERM to perfused (two mounts, one of them busy): it unmounts
#     everything and exits;
#  6. with "-o keep", by SIGTERM to perfused: the mount stays, dead
#     (ENOTCONN), until "umount -l".
# After each: DIR is gone from /proc/self/mountinfo (but in case 6, where
# that comes after umount -l), memfs has exited, no process is in D state
# or waiting for a FUSE reply,
# perfused is alive (restarted after 5 and 6) and "perfuse list" is empty;
# where memfs got its DESTROY (all but 4) its report says destroyed=1,
# outstanding=0, bad_forgets=0.
#
# Needs root and a usable /dev/fuse, and BUILD as for tests/lib.sh:
#   BUILD=build bash tests/kernel/unmount.sh
# Runs in a mount and pid namespace of its own, as differential.sh does: a
# copy of a FUSE mount in a mount namespace someone else creates meanwhile
# (tests/nsrun.sh of a concurrent run) would keep its connection alive
# after our umount, and /proc then shows only the test's own processes for
# the checks for hanging processes.  About 15 s (35 s with build-asan).

if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "unmount: needs root" >&2
		exit 1
	fi
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' unmount-ns "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"
asan_allow_shim

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing (make deps: fuse3)"
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

# ---------------------------------------------------------------------------
# Helpers

fstype_of() {
	awk -v d="$1" '$5 == d {
		for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break }
	} END { print t }' /proc/self/mountinfo
}

is_mounted() {
	[ -n "$(fstype_of "$1")" ]
}

# Whatever happens, no mount and no process of ours is left behind.
BG_PIDS=()
unmount_cleanup() {
	local d pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for d in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
	    sort -r); do
		umount -l "$d" 2>/dev/null || fusermount3 -u -z "$d" 2>/dev/null
	done
	return 0
}
_unmount_exit() {
	local rc=$?
	set +e
	unmount_cleanup
	(exit "$rc")
	_lib_exit
}
trap _unmount_exit EXIT

# state_of PID: its state letter (R, S, D, Z...), empty if gone.
state_of() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}

# hanging: the processes (of this pid namespace: the test's) that are in
# uninterruptible sleep (D), or wait for a FUSE reply (wchan
# request_wait_answer: a FUSE request waits in S until a signal comes), at
# each of 10 looks over 2 s, as "pid comm state wchan" (a process passing
# through is not hanging).
hanging_state() {
	local st wchan
	st=$(state_of "$1")
	wchan=$(cat "/proc/$1/wchan" 2>/dev/null) || true
	case $st:$wchan in
	D:* | ?:request_wait_answer | ?:fuse_*) echo "$st $wchan";;
	esac
}
hanging() {
	local p k pids=
	for p in /proc/[0-9]*; do
		[ -z "$(hanging_state "${p#/proc/}")" ] || pids="$pids ${p#/proc/}"
	done
	for ((k = 0; k < 9 && ${#pids} > 0; k++)); do
		sleep 0.2
		local still=
		for p in $pids; do
			[ -z "$(hanging_state "$p")" ] || still="$still $p"
		done
		pids=$still
	done
	for p in $pids; do
		echo "$p $(cat "/proc/$p/comm" 2>/dev/null) $(hanging_state "$p");"
	done
	return 0
}

# mount_memfs NAME [PERFUSE_MOUNT_OPTION...]: memfs through perfused at
# $T/mnt/NAME, on the kernel, with a little content (lookups to forget).
# Sets M, REP and FS_PID.
mount_memfs() {
	local name=$1
	shift
	M=$T/mnt/$name
	REP=$T/$name.report
	mkdir -p "$M"
	pf_ok mount "$@" -- "$MEMFS" "$M" --report="$REP" >"$T/mount.out"
	case $(fstype_of "$M") in
	fuse.*) ;;
	*) show "perfuse mount" "$T/mount.out"
	   fail "$name: $M is not a kernel FUSE mount after perfuse mount" \
	       "(type '$(fstype_of "$M")')";;
	esac
	assert_listed "$M" memfs
	FS_PID=$LISTED_PID
	mkdir "$M/dir"
	printf 'through the kernel\n' >"$M/dir/k.txt"
	pf_ok put "$T/payload" "$M/dir/p.txt"
	cmp -s "$T/payload" "$M/dir/p.txt" ||
	    fail "$name: a file put by perfuse reads differently through the kernel"
	assert_eq "through the kernel" "$(pf_ok cat "$M/dir/k.txt")" \
	    "$name: perfuse cat of a file written through the kernel"
}

# wait_listed_gone TARGET [SECONDS]: perfuse list no longer shows it.
wait_listed_gone() {
	local n=$(( ${2:-10} * 10 ))
	while [ -n "$(mount_field "$1" 1)" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# check_gone CASE TARGET FS_PID [stopped]: the mount and its filesystem are
# gone and nothing hangs; perfused is alive (unless "stopped": the case
# stopped it on purpose) and lists no mount.
check_gone() {
	local what=$1 d=$2 pid=$3 stopped=${4:-} n stuck list
	n=100
	while is_mounted "$d" && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	! is_mounted "$d" ||
	    defer_fail "$what: $d is still in /proc/self/mountinfo 10 s later" \
	        "($(fstype_of "$d"))"
	wait_gone "$pid" 10 ||
	    defer_fail "$what: memfs (pid $pid) still runs 10 s later (state $(state_of "$pid"))"
	stuck=$(hanging)
	[ -z "$stuck" ] || defer_fail "$what: processes left hanging (D state or" \
	    "waiting for FUSE): $stuck"
	if [ "$stopped" = stopped ]; then
		return 0
	fi
	assert_perfused_alive
	wait_listed_gone "$d" 10 ||
	    defer_fail "$what: perfuse list still shows $d 10 s later"
	list=$(pf_ok list)
	[ -z "$list" ] || defer_fail "$what: perfuse list is not empty: $list"
}

# check_report CASE REPORT: memfs got its DESTROY with no reference left.
check_report() {
	local what=$1 f=$2 n=50 rep
	while [ ! -s "$f" ] && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if [ ! -s "$f" ]; then
		defer_fail "$what: memfs wrote no report ($f)"
		return 0
	fi
	rep=$(cat "$f")
	grep -qx 'destroyed=1' <<<"$rep" ||
	    defer_fail "$what: memfs got no DESTROY: $(paste -sd ' ' "$f")"
	grep -qx 'outstanding=0' <<<"$rep" ||
	    defer_fail "$what: lookup references not forgotten: $(paste -sd ' ' "$f")"
	grep -qx 'bad_forgets=0' <<<"$rep" ||
	    defer_fail "$what: FORGETs of unknown or over-forgotten nodes: $(paste -sd ' ' "$f")"
}

# restart_perfused: the test's perfused after a case stopped it.
restart_perfused() {
	start_perfused
	assert_eq "" "$(pf_ok list)" "perfuse list of a freshly started perfused"
}

rand_file "$T/payload" 200000

# ---------------------------------------------------------------------------
log "1. perfuse umount"
mount_memfs pumount
pf_ok umount "$M"
assert_ended "memfs" "$FS_PID"
check_gone "perfuse umount" "$M" "$FS_PID"
check_report "perfuse umount" "$REP"

# --no-kernel (and -o nokernel): the same directory, served through perfuse
# only; the kernel never sees it.
M=$T/mnt/nokernel
mkdir -p "$M"
pf_ok mount --no-kernel -- "$MEMFS" "$M" >"$T/mount.out"
is_mounted "$M" && fail "--no-kernel: $M is mounted on the kernel"
assert_listed "$M" memfs
pf_ok put "$T/payload" "$M/p.txt"
[ ! -e "$M/p.txt" ] || defer_fail "--no-kernel: $M/p.txt is visible through the kernel"
pf_ok get "$M/p.txt" "$T/p.back"
cmp -s "$T/payload" "$T/p.back" || defer_fail "--no-kernel: perfuse get differs from perfuse put"
pf_ok umount "$M"
assert_ended "memfs (--no-kernel)" "$LISTED_PID"

# ---------------------------------------------------------------------------
log "2. umount by the user"
mount_memfs umount
umount "$M" 2>"$T/umount.err" || {
	show "umount $M" "$T/umount.err"
	fail "umount $M failed"
}
check_gone "umount(8)" "$M" "$FS_PID"
check_report "umount(8)" "$REP"
grep -qF "$M: unmounted from the kernel" "$PERFUSED_LOG" ||
    defer_fail "umount(8): perfused's log does not say '$M: unmounted from the kernel'"

# ---------------------------------------------------------------------------
log "3. fusermount3 -u"
mount_memfs fusermount
fusermount3 -u "$M" 2>"$T/fusermount.err" || {
	show "fusermount3 -u $M" "$T/fusermount.err"
	fail "fusermount3 -u $M failed"
}
check_gone "fusermount3 -u" "$M" "$FS_PID"
check_report "fusermount3 -u" "$REP"

# ---------------------------------------------------------------------------
log "4. SIGKILL to the filesystem under a reader"
mount_memfs killed
dd if=/dev/urandom of="$M/big" bs=1M count=32 status=none
# The reader keeps its working directory in the mount, so that each new
# open goes to the FUSE connection even once the mount is detached; each
# pass of cat reads 32 MiB afresh (memfs does not keep the page cache).
: >"$T/reader.passes"
(
	cd "$M" || exit 99
	while cat big >/dev/null; do
		echo pass >>"$T/reader.passes"
	done
	exit 3
) 2>"$T/reader.err" </dev/null &
RPID=$!
BG_PIDS+=("$RPID")
n=100
until [ -s "$T/reader.passes" ]; do
	pid_alive "$RPID" || { show "reader" "$T/reader.err"
		fail "SIGKILL: the reader ended before the filesystem was killed"; }
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "SIGKILL: the reader read nothing in 10 s"
	sleep 0.1
done
sleep 0.1   # in the middle of a pass
kill -KILL "$FS_PID"
t0=$(date +%s%N)
n=100
while pid_alive "$RPID" && [ "$n" -gt 0 ]; do
	sleep 0.05
	n=$((n - 1))
done
if pid_alive "$RPID"; then
	defer_fail "SIGKILL: the reader still runs 5 s after memfs was killed" \
	    "(state $(state_of "$RPID"), wchan $(cat "/proc/$RPID/wchan" 2>/dev/null))," \
	    "hanging: $(hanging)"
	kill -KILL "$RPID" 2>/dev/null || true
fi
rc=0
wait "$RPID" 2>/dev/null || rc=$?
BG_PIDS=()
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "SIGKILL: the reader ended ${ms} ms after the kill (status $rc, $(wc -l <"$T/reader.passes") whole passes): $(head -n 1 "$T/reader.err")"
if [ "$rc" != 3 ]; then
	show "reader" "$T/reader.err"
	defer_fail "SIGKILL: the reader ended with status $rc, expected the failing cat (3)"
fi
case $(cat "$T/reader.err") in
*"Transport endpoint is not connected"* | *"Input/output error"*) ;;
*) show "reader" "$T/reader.err"
   defer_fail "SIGKILL: the reader's error is neither ENOTCONN nor EIO";;
esac
check_gone "SIGKILL to memfs" "$M" "$FS_PID"
grep -qF "$M: mount ended" "$PERFUSED_LOG" ||
    defer_fail "SIGKILL: perfused's log does not say '$M: mount ended'"

# ---------------------------------------------------------------------------
log "5. SIGTERM to perfused: every mount unmounted"
mount_memfs term1
M1=$M REP1=$REP PID1=$FS_PID
mount_memfs term2
M2=$M REP2=$REP PID2=$FS_PID
# A process with its working directory in the second mount: busy.
(cd "$M2/dir" && exec sleep 300) &
BUSY=$!
BG_PIDS+=("$BUSY")
sleep 0.2
stop_perfused || fail "SIGTERM: perfused did not stop cleanly"
pid_alive "$BUSY" || defer_fail "SIGTERM: the process in the busy mount died"
kill -KILL "$BUSY" 2>/dev/null || true
wait "$BUSY" 2>/dev/null || true
BG_PIDS=()
check_gone "SIGTERM to perfused ($M1)" "$M1" "$PID1" stopped
check_gone "SIGTERM to perfused ($M2, busy)" "$M2" "$PID2" stopped
check_report "SIGTERM to perfused ($M1)" "$REP1"
check_report "SIGTERM to perfused ($M2, busy)" "$REP2"
restart_perfused

# ---------------------------------------------------------------------------
log "6. -o keep, SIGTERM to perfused: the mount stays, dead"
mount_memfs keep -o keep
stop_perfused || fail "-o keep: perfused did not stop cleanly"
is_mounted "$M" ||
    defer_fail "-o keep: $M is no longer mounted after perfused stopped"
wait_gone "$FS_PID" 10 ||
    defer_fail "-o keep: memfs (pid $FS_PID) still runs 10 s after perfused stopped"
out=$(timeout 10 stat "$M/dir" 2>&1) && rc=0 || rc=$?
case $rc:$out in
1:*"Transport endpoint is not connected"*) ;;
*) defer_fail "-o keep: stat $M/dir after perfused stopped: status $rc, '$out'" \
       "(expected ENOTCONN)";;
esac
out=$(timeout 10 ls "$M" 2>&1) && rc=0 || rc=$?
case $rc:$out in
2:*"Transport endpoint is not connected"*) ;;
*) defer_fail "-o keep: ls $M after perfused stopped: status $rc, '$out'" \
       "(expected ENOTCONN)";;
esac
umount -l "$M" 2>"$T/umount.err" || {
	show "umount -l $M" "$T/umount.err"
	fail "-o keep: umount -l $M failed"
}
check_gone "-o keep" "$M" "$FS_PID" stopped
check_report "-o keep" "$REP"
restart_perfused

assert_perfused_alive
fail_deferred
log "done"
