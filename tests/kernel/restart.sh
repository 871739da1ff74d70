#!/usr/bin/env bash
# Crash-restart (perfuse mount -o restart), as root against kernel FUSE: the
# filesystem is killed with SIGKILL while programs use its kernel mount and
# perfuse sessions use its API path, and all of them carry on.
#
#  1. bindfs (libfuse2, preload; its state is the directory under it):
#     a kernel writer appending and fsyncing records on one descriptor, a
#     kernel reader of another file on one descriptor, an API writer and an
#     API reader each on one session and one open file, a process whose
#     working directory is deep in the mount.  bindfs is killed twice.
#     Afterwards: every record whose fsync succeeded is in the file, nobody
#     saw ENOTCONN (a write in flight at the kill may fail with EIO, as
#     documented; reads never fail), the mount is the same kernel mount,
#     perfuse list shows the new process, and every lookup reference and
#     handle is given back at umount (the kernel's FORGETs balance).
#  2. memfs with --store (its state on disk, written at fsync): the same
#     kill under a kernel writer and an API writer; the fsynced records are
#     in the files the restarted memfs loaded, and its report at unmount
#     says no reference is outstanding.
#  3. Without -o restart, a killed filesystem ends the mount: ENOTCONN at
#     once (the unmount test covers the rest).
#  4. A perfused that daemonized itself (started by perfuse) restarts a
#     daemonizing filesystem and sees it exit at unmount.
if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "restart: needs root" >&2
		exit 1
	fi
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' restart-ns "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"
asan_allow_shim

IOLOOP=$BUILD/tests/kernel/ioloop
[ -x "$IOLOOP" ] || fail "$IOLOOP is missing: build first (make)"
[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
command -v bindfs >/dev/null || fail "bindfs is missing (make deps)"
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

BG_PIDS=()
restart_cleanup() {
	local d pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for d in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
	    sort -r); do
		umount -l "$d" 2>/dev/null
	done
	return 0
}
_restart_exit() {
	local rc=$?
	set +e
	restart_cleanup
	(exit "$rc")
	_lib_exit
}
trap _restart_exit EXIT

mount_id() {
	awk -v d="$1" '$5 == d { print $1 }' /proc/self/mountinfo
}

# kill_fs TARGET: SIGKILL the process serving TARGET; wait until perfuse
# list shows another one.
kill_fs() {
	local old n=100 new
	old=$(mount_field "$1" 3)
	assert_match "$old" '^[1-9][0-9]*$' "pid of $1 in perfuse list"
	kill -KILL "$old"
	while :; do
		new=$(mount_field "$1" 3)
		if [ -n "$new" ] && [ "$new" != "$old" ] && pid_alive "$new"; then
			break
		fi
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "no new filesystem process for $1 10 s after" \
		    "killing pid $old (perfuse list: '$(pf list)')"
		sleep 0.1
	done
	log "killed pid $old; pid $new serves $1 now"
}

# check_records OUT FILE WHAT: every record listed in OUT is in FILE.
check_records() {
	local n missing
	n=$(wc -l <"$1")
	[ "$n" -gt 20 ] || fail "$3: only $n records were fsynced (stderr: $(cat "$1.err"))"
	grep -a -o 'rec [0-9]*' "$2" | sort -u >"$1.have"
	sort -u "$1" >"$1.want"
	missing=$(comm -23 "$1.want" "$1.have" | head -3)
	[ -z "$missing" ] || fail "$3: records fsynced but missing from $2: $missing"
	log "$3: $n fsynced records, all present"
}

# check_errors ERRFILE STATUS WHAT: no ENOTCONN nor other error; at most
# MAX EIO (a write in flight at each kill).
check_errors() {
	local eio max=${4:-0}
	! grep -q ENOTCONN "$1" || fail "$3: ENOTCONN across the restart: $(grep -m3 ENOTCONN "$1")"
	[ "$2" = 0 ] || fail "$3: ioloop exited with status $2: $(tail -3 "$1")"
	eio=$(grep -c ': EIO$' "$1" || true)
	[ "$eio" -le "$max" ] || fail "$3: $eio EIO errors (at most $max): $(grep -m3 EIO "$1")"
}

# ---------------------------------------------------------------------------
log "1. bindfs -o restart, killed twice under kernel and API I/O"
SRC=$T/src
M=$T/mnt/bind
mkdir -p "$SRC/deep/er" "$M"
rand_file "$SRC/deep/static" 40000
pf_ok mount -o restart -- bindfs "$SRC" "$M" >"$T/mount.out"
ID=$(mount_id "$M")
[ -n "$ID" ] || fail "$M is not a kernel mount after perfuse mount"
assert_listed "$M" bindfs

"$IOLOOP" write "$M/deep/er/klog" 6 >"$T/kw" 2>"$T/kw.err" & KW=$!
"$IOLOOP" read "$M/deep/static" 6 >/dev/null 2>"$T/kr.err" & KR=$!
"$IOLOOP" api-write "$PERFUSE_SOCKET" "$M" deep/er/alog 6 >"$T/aw" 2>"$T/aw.err" & AW=$!
"$IOLOOP" api-read "$PERFUSE_SOCKET" "$M" deep/static 6 >/dev/null 2>"$T/ar.err" & AR=$!
(cd "$M/deep/er" && exec sleep 300) & CWD=$!
BG_PIDS+=("$KW" "$KR" "$AW" "$AR" "$CWD")
sleep 1.5
kill_fs "$M"
sleep 1.5
kill_fs "$M"
st=0; wait "$KW" || st=$?; check_errors "$T/kw.err" "$st" "kernel writer" 4
st=0; wait "$KR" || st=$?; check_errors "$T/kr.err" "$st" "kernel reader"
st=0; wait "$AW" || st=$?; check_errors "$T/aw.err" "$st" "API writer" 4
st=0; wait "$AR" || st=$?; check_errors "$T/ar.err" "$st" "API reader"
check_records "$T/kw" "$SRC/deep/er/klog" "kernel writer (bindfs)"
check_records "$T/aw" "$SRC/deep/er/alog" "API writer (bindfs)"
assert_eq "$ID" "$(mount_id "$M")" "the kernel mount of $M after the restarts"
# The process whose working directory is in the mount sees it still.
assert_eq "$SRC/deep/er" "$(readlink "/proc/$CWD/cwd" | sed "s|^$M|$SRC|")" \
    "working directory of a process in the mount"
ls "/proc/$CWD/cwd/" >"$T/ls.out" || fail "ls of a working directory in the mount failed"
assert_contains "$(cat "$T/ls.out")" klog "listing of the working directory"
cmp -s "$SRC/deep/static" "$M/deep/static" || fail "$M/deep/static reads wrong after the restarts"
assert_eq "$(pf_ok cat "$M/deep/er/klog" | md5sum)" "$(md5sum <"$SRC/deep/er/klog")" \
    "perfuse cat of the kernel writer's file after the restarts"
grep -q "restarted: .* nodes and .* handles back" "$PERFUSED_LOG" ||
    fail "perfused did not log the restart"
kill -KILL "$CWD"; wait "$CWD" 2>/dev/null || true
BG_PIDS=()
# The daemon's death seen (SIGCHLD) before its socket's end: bindfs
# daemonized, so the process perfused started exited 0 long ago; that
# must not pass for "it ended by itself" (it once did: no restart).
OLD=$(mount_field "$M" 3)
kill -STOP "$PERFUSED_PID"
kill -KILL "$OLD"
sleep 0.3
kill -CONT "$PERFUSED_PID"
n=100
while NEW=$(mount_field "$M" 3) && { [ -z "$NEW" ] || [ "$NEW" = "$OLD" ]; }; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "no restart when the daemon's exit came before its socket's end"
	sleep 0.1
done
cmp -s "$SRC/deep/static" "$M/deep/static" || fail "$M/deep/static after the third restart"
pf_ok umount "$M"
[ -z "$(mount_id "$M")" ] || fail "$M still mounted after perfuse umount"
! ls /tmp | grep -q '^perfuse-restart-' ||
    fail "a perfuse-restart directory was left in /tmp: $(ls -d /tmp/perfuse-restart-*)"

# ---------------------------------------------------------------------------
log "2. memfs --store -o restart, killed under kernel and API writers"
M2=$T/mnt/mem
STORE=$T/mem.store
REP2=$T/mem.report
mkdir -p "$M2"
pf_ok mount -o restart -- "$MEMFS" "$M2" --store="$STORE" --report="$REP2" >"$T/mount2.out"
ID2=$(mount_id "$M2")
[ -n "$ID2" ] || fail "$M2 is not a kernel mount after perfuse mount"
mkdir -p "$M2/a/b"
rand_file "$T/payload" 30000
cp "$T/payload" "$M2/a/b/static"
# A file held open through the kernel, then renamed through the API: the
# restart finds it under its new name.
exec 8<"$M2/a/b/static"
pf_ok mv "$M2/a/b/static" "$M2/a/moved"
dd if=/dev/null of="$M2/a/moved" conv=notrunc,fsync oflag=append status=none  # memfs saves at fsync
"$IOLOOP" write "$M2/a/b/klog" 5 >"$T/mkw" 2>"$T/mkw.err" & KW=$!
"$IOLOOP" api-write "$PERFUSE_SOCKET" "$M2" a/alog 5 >"$T/maw" 2>"$T/maw.err" & AW=$!
"$IOLOOP" read "$M2/a/moved" 5 >/dev/null 2>"$T/mkr.err" & KR=$!
BG_PIDS+=("$KW" "$AW" "$KR")
sleep 2
kill_fs "$M2"
st=0; wait "$KW" || st=$?; check_errors "$T/mkw.err" "$st" "kernel writer (memfs)" 2
st=0; wait "$AW" || st=$?; check_errors "$T/maw.err" "$st" "API writer (memfs)" 2
st=0; wait "$KR" || st=$?; check_errors "$T/mkr.err" "$st" "kernel reader (memfs)"
BG_PIDS=()
# The files as the restarted memfs has them, read through the kernel mount.
check_records "$T/mkw" "$M2/a/b/klog" "kernel writer (memfs)"
pf_ok cat "$M2/a/alog" >"$T/alog.out"
check_records "$T/maw" "$T/alog.out" "API writer (memfs)"
cmp -s "$T/payload" "$M2/a/moved" || fail "memfs: a file fsynced before the kill reads wrong"
cmp "$T/payload" - <&8 >&2 ||
    fail "memfs: a descriptor opened before a rename and the kill reads wrong after them"
exec 8<&-
assert_eq "$ID2" "$(mount_id "$M2")" "the kernel mount of $M2 after the restart"
pf_ok umount "$M2"
# The report of the second memfs: perfused gave back every reference it
# handed out, in the new server's ids.
grep -q '^outstanding=0$' "$REP2" ||
    fail "memfs after the restart: lookup references not forgotten: $(tr '\n' ' ' <"$REP2")"
grep -q '^bad_forgets=0$' "$REP2" ||
    fail "memfs after the restart: FORGETs of references it never gave: $(tr '\n' ' ' <"$REP2")"
log "memfs report after the restart: $(tr '\n' ' ' <"$REP2")"

# ---------------------------------------------------------------------------
log "3. without -o restart: the killed filesystem ends the mount"
M3=$T/mnt/norestart
mkdir -p "$M3"
pf_ok mount -- "$MEMFS" "$M3" >"$T/mount3.out"
printf 'x\n' >"$M3/f"
exec 7<"$M3/f"
kill -KILL "$(mount_field "$M3" 3)"
n=50
while [ -n "$(mount_field "$M3" 1)" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
[ -z "$(mount_field "$M3" 1)" ] || fail "the mount of a killed memfs without -o restart is still listed"
if out=$(cat <&7 2>&1); then
	fail "reading a file of a killed filesystem without -o restart succeeded: $out"
fi
exec 7<&-
log "without -o restart: $out"

# ---------------------------------------------------------------------------
log "4. perfused started by perfuse (daemon mode): a daemonizing fs restarts and unmounts"
# perfused is a child subreaper also when it daemonized itself, so that it
# sees the daemon of a filesystem exit (it once did not: unmount then took
# 15 s and SIGKILL).
DSOCK=$T/daemon.sock
M4=$T/mnt/daemon
mkdir -p "$M4" "$T/src4"
printf 'daemon mode\n' >"$T/src4/f"
PERFUSED="$PERFUSED" "$PERFUSE" -S "$DSOCK" mount -o restart -- bindfs "$T/src4" "$M4" \
    >"$T/mount4.out" 2>&1 || { show "perfuse mount" "$T/mount4.out"; fail "mount in daemon mode"; }
DPID=$(awk -F '\t' -v t="$M4" '$1 == t { print $3 }' <<<"$("$PERFUSE" -S "$DSOCK" list)")
kill -KILL "$DPID"
n=100
until [ "$(cat "$M4/f" 2>/dev/null)" = "daemon mode" ] &&
    NEW=$(awk -F '\t' -v t="$M4" '$1 == t { print $3 }' <<<"$("$PERFUSE" -S "$DSOCK" list)") &&
    [ -n "$NEW" ] && [ "$NEW" != "$DPID" ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "daemon mode: $M4 did not come back after killing $DPID"
	sleep 0.1
done
"$PERFUSE" -S "$DSOCK" umount "$M4" || fail "daemon mode: perfuse umount failed"
! grep -q 'did not exit .* after DESTROY' "$DSOCK.log" ||
    fail "daemon mode: perfused did not see the filesystem exit: $(grep -m1 DESTROY "$DSOCK.log")"
pid_alive "$NEW" && fail "daemon mode: bindfs (pid $NEW) still runs after perfuse umount"
pkill -TERM -f "perfused.*$DSOCK" || true

assert_perfused_alive
log "restart: all checks passed"
