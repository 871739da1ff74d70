#!/usr/bin/env bash
# tests/kernel/access.sh - who may use a mount (perfused(8), ACCESS CONTROL),
# with two unprivileged users, A (perfuse-test) and B (perfuse-test2),
# created when missing as tests/nsrun.sh creates perfuse-test.
#  1. A's own perfused: its socket directory under A's XDG_RUNTIME_DIR is
#     0700, and B cannot reach the socket; a symlink planted in place of
#     that directory makes perfused refuse to start, with a clear error.
#  2. A root perfused (socket directory 0755) serving both: A mounts memfs
#     (the API and the kernel front-end); the filesystem runs as A, not
#     root; B gets "Permission denied" from perfuse ls/cat/put/umount/trace
#     and from the kernel mount, and does not see it in perfuse list.
#  3. With -o allow_other: B reads and writes through perfuse and through
#     the kernel mount, subject to memfs's own checks (A's 0600 file is
#     refused); what B creates is B's; B may not unmount or trace it.
#  4. With -o allow_other,default_permissions: the kernel refuses A's 0600
#     file to B, and so does perfused on its own path (B reads the 0644
#     one); over bindfs, which reads A's files for anybody, perfused's
#     check is all there is: reads, writes, chmod, truncate, and a sticky
#     directory's rule (B removes its own entry, not A's); a mode changed
#     in bindfs's source directory holds for a long session of B's once
#     the attributes went stale (perfused fetches them again).
#  5. A's perfused mounting on the kernel through fusermount3: allow_other
#     only when /etc/fuse.conf has user_allow_other (bind-mounted over it
#     in the test's mount namespace; skipped when the file does not exist).
#
# Needs root and a usable /dev/fuse, and BUILD as for tests/lib.sh (a
# directory the two users can read: tests/run.sh stages one):
#   BUILD=/tmp/perfuse-check.X/build bash tests/kernel/access.sh
# Runs in a mount and pid namespace of its own, as unmount.sh does.

if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "access: needs root" >&2
		exit 1
	fi
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' access-ns "$0" "$@"
fi

PERFUSE_LIB_NO_DAEMON=1
. "$(dirname "$0")/../lib.sh"
asan_allow_shim
# lib.sh's socket is in root's private $T; each part picks its own.
unset PERFUSE_SOCKET

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
IOLOOP=$BUILD/tests/kernel/ioloop
[ -x "$IOLOOP" ] || fail "$IOLOOP is missing: build first (make)"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing (make deps: fuse3)"
command -v setpriv >/dev/null || fail "setpriv is missing (util-linux)"
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

# ---------------------------------------------------------------------------
# Users

ensure_user() {
	id -u "$1" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --shell /usr/sbin/nologin \
	    --home-dir /nonexistent "$1" >/dev/null 2>&1 ||
	    fail "cannot create the test user $1 (useradd)"
}
UA=${PERFUSE_TEST_USER:-perfuse-test}
UB=${PERFUSE_TEST_USER2:-perfuse-test2}
ensure_user "$UA"
ensure_user "$UB"
A_UID=$(id -u "$UA")
B_UID=$(id -u "$UB")
[ "$A_UID" != 0 ] && [ "$B_UID" != 0 ] && [ "$A_UID" != "$B_UID" ] ||
    fail "test users $UA ($A_UID) and $UB ($B_UID) must be two users other than root"

# A world-traversable work directory (T is root's, 0700).
W=$(mktemp -d /tmp/pf-access.XXXXXX)
chmod 0755 "$W"
for u in "$UA" "$UB"; do
	mkdir -p "$W/xdg-$u" "$W/home-$u" "$W/tmp-$u"
	chown "$u:" "$W/xdg-$u" "$W/home-$u" "$W/tmp-$u"
	chmod 0700 "$W/home-$u" "$W/tmp-$u"
	# Traversable, so that only perfused's own directory keeps others out.
	chmod 0711 "$W/xdg-$u"
done
PERFUSE_ANY_ASAN=${ASAN_OPTIONS:-}
# The users' commands start here (perfused starts their filesystems in
# the caller's directory, which must be theirs to enter).
cd "$W"

# as USER CMD...: run CMD as USER (no supplementary groups), with a home,
# XDG_RUNTIME_DIR and TMPDIR of its own.  No no_new_privs: fusermount3 is
# setuid.
as() {
	local u=$1
	shift
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups \
	    env HOME="$W/home-$u" XDG_RUNTIME_DIR="$W/xdg-$u" TMPDIR="$W/tmp-$u" \
	    USER="$u" LOGNAME="$u" ${PERFUSE_ANY_ASAN:+ASAN_OPTIONS="$PERFUSE_ANY_ASAN"} \
	    "$@"
}

# as_ok USER CMD...: must succeed; its stdout is ours.
as_ok() {
	local u=$1 rc=0
	shift
	as "$u" "$@" 2>"$T/as.err" || rc=$?
	if [ "$rc" != 0 ]; then
		show "stderr" "$T/as.err"
		fail "as $u: $*: exit status $rc, expected 0"
	fi
}

# as_denied USER WHAT CMD...: must fail, saying WHAT (e.g. "Permission
# denied") on stderr.
as_denied() {
	local u=$1 what=$2 rc=0
	shift 2
	as "$u" "$@" >"$T/as.out" 2>"$T/as.err" </dev/null || rc=$?
	if [ "$rc" = 0 ]; then
		show "stdout" "$T/as.out"
		fail "as $u: $*: succeeded, expected '$what'"
	fi
	assert_contains "$(cat "$T/as.err")" "$what" "stderr of '$*' as $u"
}

# ---------------------------------------------------------------------------
# Clean-up: our mounts, the users' perfuseds, the work directory.

USER_PIDS=()
access_cleanup() {
	local d pid
	for pid in "${USER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for d in $(awk -v t="$W/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
	    sort -r); do
		umount -l "$d" 2>/dev/null
	done
	umount /etc/fuse.conf 2>/dev/null
	for pid in "${USER_PIDS[@]}"; do
		wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
	done
	rm -rf -- "$W"
	return 0
}
_access_exit() {
	local rc=$?
	set +e
	access_cleanup
	(exit "$rc")
	_lib_exit
}
trap _access_exit EXIT

# start_user_perfused USER: USER's perfused on its default socket.
start_user_perfused() {
	local u=$1 n=100 sock=$W/xdg-$1/perfuse/perfused.sock
	as "$u" setsid "$PERFUSED" -f >>"$T/perfused-$u.log" 2>&1 </dev/null &
	USER_PID=$!
	USER_PIDS+=("$USER_PID")
	until [ -S "$sock" ]; do
		pid_alive "$USER_PID" || { show "log" "$T/perfused-$u.log"; fail "$u's perfused exited"; }
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$u's perfused did not create $sock within 10 s"
		sleep 0.1
	done
}

stop_user_perfused() {
	kill -TERM "$USER_PID"
	wait_gone "$USER_PID" 15 || fail "a user's perfused did not exit on SIGTERM"
	if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$T"/perfused-*.log; then
		show "log" "$(ls "$T"/perfused-*.log | head -n 1)"
		fail "sanitizer report in a user's perfused log"
	fi
}

fstype_of() {
	awk -v d="$1" '$5 == d {
		for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break }
	} END { print t }' /proc/self/mountinfo
}

# The super options (allow_other, default_permissions, user_id=) of the
# kernel mount on $1.
kopts_of() {
	awk -v d="$1" '$5 == d { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 3); exit } }' \
	    /proc/self/mountinfo
}

uid_of_pid() {
	awk '/^Uid:/ { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------------------
log "1. A's own perfused: a private socket directory"
start_user_perfused "$UA"
ASOCK=$W/xdg-$UA/perfuse/perfused.sock
assert_eq "700 $A_UID" "$(stat -c '%a %u' "$W/xdg-$UA/perfuse")" \
    "mode and owner of A's socket directory"
as_ok "$UA" "$PERFUSE" mount --attach=fd -o nokernel -- "$MEMFS" "$W/xdg-$UA/m"
as_ok "$UA" "$PERFUSE" ls "$W/xdg-$UA/m" >/dev/null
as_denied "$UB" "Permission denied" "$PERFUSE" -S "$ASOCK" ls "$W/xdg-$UA/m"
as_denied "$UB" "Permission denied" "$PERFUSE" -S "$ASOCK" umount "$W/xdg-$UA/m"
as_ok "$UA" "$PERFUSE" umount "$W/xdg-$UA/m"
stop_user_perfused

log "1b. a symlink in place of the socket directory is refused"
mkdir -p "$W/elsewhere"
chown "$UA:" "$W/elsewhere"
rm -rf -- "$W/xdg-$UA/perfuse"
as_ok "$UA" ln -s "$W/elsewhere" "$W/xdg-$UA/perfuse"
rc=0
as "$UA" "$PERFUSED" -f >"$T/symlink.out" 2>&1 </dev/null || rc=$?
[ "$rc" != 0 ] || fail "perfused started with a symlink as its socket directory"
assert_contains "$(cat "$T/symlink.out")" "$W/xdg-$UA/perfuse: is a symbolic link" \
    "perfused's error"
assert_eq "" "$(ls -A "$W/elsewhere")" "what perfused left where the symlink points"
rm -f -- "$W/xdg-$UA/perfuse"

# ---------------------------------------------------------------------------
log "2. a root perfused serving both users"
mkdir "$W/run"
export PERFUSE_SOCKET=$W/run/perfuse/perfused.sock
start_perfused
assert_eq "755 0" "$(stat -c '%a %u' "$W/run/perfuse")" "mode and owner of root's socket directory"
MA=$W/a
mkdir -m 0755 "$MA" "$MA/mnt"
chown "$UA:" "$MA" "$MA/mnt"
ARGS=(-S "$PERFUSE_SOCKET")

# mount_a OPTS: A mounts memfs on $MA/mnt through root's perfused, with
# hello (0644) and secret (0600) in it.
mount_a() {
	as_ok "$UA" "$PERFUSE" "${ARGS[@]}" mount ${1:+-o "$1"} -- "$MEMFS" "$MA/mnt" >/dev/null
	printf 'hello\n' >"$W/hello"
	printf 'secret\n' >"$W/secret"
	chmod 0644 "$W/hello" "$W/secret"
	as_ok "$UA" "$PERFUSE" "${ARGS[@]}" put "$W/hello" "$MA/mnt/hello"
	as_ok "$UA" "$PERFUSE" "${ARGS[@]}" put "$W/secret" "$MA/mnt/secret"
	as_ok "$UA" "$PERFUSE" "${ARGS[@]}" chmod 600 "$MA/mnt/secret"
}

mount_a ""
assert_eq fuse.memfs "$(fstype_of "$MA/mnt")" "type of the kernel mount of A's memfs"
assert_contains "$(kopts_of "$MA/mnt")" "user_id=$A_UID" "kernel mount options"
assert_not_contains "$(kopts_of "$MA/mnt")" "allow_other" "kernel mount options"
FS_PID=$(mount_field "$MA/mnt" 3)
assert_eq "$A_UID" "$(uid_of_pid "$FS_PID")" "uid of the filesystem root's perfused started for A"
assert_eq "hello" "$(as_ok "$UA" cat "$MA/mnt/hello")" "A reads through the kernel mount"
for cmd in "ls $MA/mnt" "cat $MA/mnt/hello" "put $W/hello $MA/mnt/fromB" "umount $MA/mnt" \
    "trace -q $MA/mnt"; do
	# shellcheck disable=SC2086 # cmd is words
	as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" $cmd
done
assert_eq "" "$(as_ok "$UB" "$PERFUSE" "${ARGS[@]}" list)" "perfuse list as B"
as_denied "$UB" "Permission denied" cat "$MA/mnt/hello"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/mnt"

# ---------------------------------------------------------------------------
log "3. allow_other: the server's own checks apply"
HAVE_CONF=0
if [ -f /etc/fuse.conf ]; then
	HAVE_CONF=1
	printf 'user_allow_other\n' >"$W/fuse.conf.with"
	printf '# mount_max = 1000\n' >"$W/fuse.conf.without"
	chmod 0644 "$W"/fuse.conf.*
	mount --bind "$W/fuse.conf.with" /etc/fuse.conf
fi
mount_a allow_other
if [ "$HAVE_CONF" = 1 ]; then
	assert_contains "$(kopts_of "$MA/mnt")" "allow_other" "kernel mount options"
fi
as_ok "$UB" "$PERFUSE" "${ARGS[@]}" list | cut -f1 | grep -qxF "$MA/mnt" ||
    fail "B does not see A's allow_other mount in perfuse list"
assert_eq "hello" "$(as_ok "$UB" "$PERFUSE" "${ARGS[@]}" cat "$MA/mnt/hello")" "B's perfuse cat"
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" cat "$MA/mnt/secret"
# memfs's root is A's, 0755: B may not create there, but in a 1777 directory.
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" put "$W/hello" "$MA/mnt/fromB"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" mkdir -m 1777 "$MA/mnt/shared"
as_ok "$UB" "$PERFUSE" "${ARGS[@]}" put "$W/hello" "$MA/mnt/shared/fromB"
ST=$(as_ok "$UA" "$PERFUSE" "${ARGS[@]}" stat "$MA/mnt/shared/fromB")
assert_match "$ST" "Uid: \\( *$B_UID/" "owner of the file B put through root's perfused"
as_denied "$UB" "Operation not permitted" "$PERFUSE" "${ARGS[@]}" umount "$MA/mnt"
as_denied "$UB" "Operation not permitted" "$PERFUSE" "${ARGS[@]}" trace -q "$MA/mnt"
if [ "$HAVE_CONF" = 1 ]; then
	assert_eq "hello" "$(as_ok "$UB" cat "$MA/mnt/hello")" "B reads through the kernel mount"
	as_denied "$UB" "Permission denied" cat "$MA/mnt/secret"
	as_ok "$UB" sh -c "echo kernel >'$MA/mnt/shared/kfromB'"
	assert_eq "$B_UID" "$(stat -c %u "$MA/mnt/shared/kfromB")" \
	    "owner of the file B made through the kernel mount"
fi
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/mnt"

# ---------------------------------------------------------------------------
log "4. allow_other,default_permissions: perfused checks the mode bits as the kernel"
mount_a allow_other,default_permissions
assert_eq "secret" "$(as_ok "$UA" "$PERFUSE" "${ARGS[@]}" cat "$MA/mnt/secret")" \
    "the owner's perfuse cat"
assert_eq "hello" "$(as_ok "$UB" "$PERFUSE" "${ARGS[@]}" cat "$MA/mnt/hello")" \
    "B's perfuse cat of a 0644 file"
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" cat "$MA/mnt/secret"
if [ "$HAVE_CONF" = 1 ]; then
	assert_contains "$(kopts_of "$MA/mnt")" "default_permissions" "kernel mount options"
	assert_eq "hello" "$(as_ok "$UB" cat "$MA/mnt/hello")" "B reads through the kernel mount"
	as_denied "$UB" "Permission denied" cat "$MA/mnt/secret"
fi
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/mnt"

# bindfs runs as A and reads A's files for whoever asks: only
# default_permissions stands between B and A's 0600 file, on the API path
# perfused's own check.
log "4b. bindfs, allow_other,default_permissions: perfused's check is all there is"
SRC=$W/a/src
mkdir -p "$SRC" "$MA/bind"
printf 'hello\n' >"$SRC/hello"
printf 'secret\n' >"$SRC/secret"
chmod 0644 "$SRC/hello"
chmod 0600 "$SRC/secret"
mkdir -m 1777 "$SRC/shared"
printf 'a\n' >"$SRC/shared/ofA"
chown -R "$UA:" "$SRC" "$MA/bind"
printf 'b\n' >"$SRC/shared/ofB"
chown "$UB:" "$SRC/shared/ofB"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" mount -o allow_other -- bindfs "$SRC" "$MA/bind" >/dev/null
# The control: bindfs mounts with default_permissions of its own accord
# (it checks nothing itself), so B is refused here too, by perfused.
if [ "$HAVE_CONF" = 1 ]; then
	assert_contains "$(kopts_of "$MA/bind")" "default_permissions" \
	    "options of bindfs's kernel mount (bindfs asks for default_permissions)"
fi
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" cat "$MA/bind/secret"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/bind"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" mount -o allow_other,default_permissions -- \
    bindfs "$SRC" "$MA/bind" >/dev/null
assert_eq "hello" "$(as_ok "$UB" "$PERFUSE" "${ARGS[@]}" cat "$MA/bind/hello")" \
    "B's perfuse cat of a 0644 file through bindfs"
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" cat "$MA/bind/secret"
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" put "$W/hello" "$MA/bind/fromB"
as_denied "$UB" "Operation not permitted" "$PERFUSE" "${ARGS[@]}" chmod 666 "$MA/bind/hello"
as_denied "$UB" "Permission denied" "$PERFUSE" "${ARGS[@]}" truncate -s 0 "$MA/bind/hello"
# A sticky directory: B may create, and remove its own entries, not A's
# (bindfs, running as A, creates B's files as A's: B's own is one root
# made for it).
as_ok "$UB" "$PERFUSE" "${ARGS[@]}" put "$W/hello" "$MA/bind/shared/fromB"
as_denied "$UB" "Operation not permitted" "$PERFUSE" "${ARGS[@]}" rm "$MA/bind/shared/ofA"
as_denied "$UB" "Operation not permitted" "$PERFUSE" "${ARGS[@]}" mv "$MA/bind/shared/ofA" \
    "$MA/bind/shared/taken"
as_ok "$UB" "$PERFUSE" "${ARGS[@]}" rm "$MA/bind/shared/ofB"
[ -e "$SRC/shared/ofA" ] || fail "B removed A's file from a sticky directory"
[ ! -e "$SRC/shared/ofB" ] || fail "B's own file in the sticky directory was not removed"
assert_eq "a" "$(as_ok "$UA" "$PERFUSE" "${ARGS[@]}" cat "$MA/bind/shared/ofA")" \
    "A's file in the sticky directory"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/bind"

# Attributes go stale: a mode changed behind bindfs's back (in its source
# directory) binds B's long session once bindfs's attr_timeout (1 s) has
# passed, though the session still knows the name (entry_timeout=60), as
# the kernel would: perfused fetches the attributes again before it checks.
log "4c. a mode changed behind the filesystem's back, on one long session"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" mount -o allow_other,default_permissions -- \
    bindfs -o entry_timeout=60,attr_timeout=1 "$SRC" "$MA/bind" >/dev/null
printf 'turns\n' >"$SRC/turns"
chown "$UA:" "$SRC/turns"
chmod 0644 "$SRC/turns"
coproc OPENER { as "$UB" "$IOLOOP" api-open "$PERFUSE_SOCKET" "$MA/bind" turns 2>"$T/opener.err"; }
OPENER_P=$OPENER_PID
echo >&"${OPENER[1]}"; read -r got <&"${OPENER[0]}" || got="(nothing)"
assert_eq 0 "$got" "B opens A's 0644 file on its session"
chmod 0600 "$SRC/turns"
sleep 2.2
echo >&"${OPENER[1]}"; read -r got <&"${OPENER[0]}" || got="(nothing)"
assert_eq -13 "$got" "B opens the file on the same session once A's chmod 0600 (in bindfs's source) is 2 s old"
chmod 0644 "$SRC/turns"
sleep 2.2
echo >&"${OPENER[1]}"; read -r got <&"${OPENER[0]}" || got="(nothing)"
assert_eq 0 "$got" "B opens the file on the same session once it is 0644 again"
exec {OPENER[1]}>&-
wait "$OPENER_P" || fail "ioloop api-open failed: $(cat "$T/opener.err")"
as_ok "$UA" "$PERFUSE" "${ARGS[@]}" umount "$MA/bind"
stop_perfused || fail "root's perfused did not stop cleanly"

# ---------------------------------------------------------------------------
if [ "$HAVE_CONF" = 1 ]; then
	log "5. A's own kernel mount: allow_other only with user_allow_other"
	unset PERFUSE_SOCKET
	start_user_perfused "$UA"
	AM=$W/xdg-$UA/k
	as_ok "$UA" mkdir "$AM"
	umount /etc/fuse.conf
	mount --bind "$W/fuse.conf.without" /etc/fuse.conf
	as_ok "$UA" "$PERFUSE" mount -o allow_other -- "$MEMFS" "$AM" >"$T/m.out"
	assert_contains "$(cat "$T/as.err")" "allow_other needs user_allow_other in /etc/fuse.conf" \
	    "perfuse mount's note"
	assert_eq "" "$(fstype_of "$AM")" "kernel mount without user_allow_other"
	as_ok "$UA" "$PERFUSE" umount "$AM"
	# /dev/fuse is often 0600 in containers: a 0666 node of the same
	# device over it, in this mount namespace only, as on a usual system.
	if ! as "$UA" sh -c 'exec 3<>/dev/fuse' 2>/dev/null &&
	    mknod -m 0666 "$W/fuse" c 10 229 2>/dev/null; then
		mount --bind "$W/fuse" /dev/fuse 2>/dev/null || true
	fi
	if as "$UA" sh -c 'exec 3<>/dev/fuse' 2>/dev/null; then
		umount /etc/fuse.conf
		mount --bind "$W/fuse.conf.with" /etc/fuse.conf
		as_ok "$UA" "$PERFUSE" mount -o allow_other -- "$MEMFS" "$AM" >/dev/null
		assert_eq fuse.memfs "$(fstype_of "$AM")" "kernel mount with user_allow_other"
		assert_contains "$(kopts_of "$AM")" "allow_other" "kernel mount options"
		printf 'mine\n' >"$W/mine"
		chmod 0644 "$W/mine"
		as_ok "$UA" "$PERFUSE" put "$W/mine" "$AM/mine"
		assert_eq "mine" "$(as_ok "$UB" cat "$AM/mine")" "B reads A's kernel mount"
		as_ok "$UA" "$PERFUSE" umount "$AM"
	else
		log "5b. skipped: $UA cannot open /dev/fuse here ($(stat -c %A /dev/fuse)), so no user kernel mount"
	fi
	stop_user_perfused
else
	log "5. skipped: no /etc/fuse.conf to bind-mount over"
fi
fail_deferred
log "done"
