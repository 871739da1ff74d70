#!/usr/bin/env bash
# Notifications from the filesystem reach the kernel through perfused.
# tests/badpeer.c's "notify-kernel" server lets the kernel cache the
# attributes of its file "f" for an hour, and makes "f" grow at each
# lookup of "bump", saying so with NOTIFY_INVAL_INODE: the kernel mount
# must show the new size at once, and so must a perfuse session, whose
# cache the notification reaches through perfused; and a change made
# through the kernel mount reaches a session's cache at once too.  Runs as root with a usable /dev/fuse, in
# its own mount and pid namespace (see unmount.sh for why).
set -euo pipefail

if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "notify: needs root" >&2
		exit 1
	fi
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' notify-ns "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

M=$T/notify
mkdir -p "$M"
_notify_exit() {
	local rc=$?
	set +e
	umount -l "$M" 2>/dev/null
	(exit "$rc")
	_lib_exit
}
trap _notify_exit EXIT

log "a server that notifies, mounted on the kernel through perfused"
pf_ok mount --attach=fd -- "$BUILD/badpeer" server notify-kernel "$M"
grep -q " $M fuse" /proc/self/mounts || fail "no kernel mount at $M"
assert_eq 1 "$(stat -c %s "$M/f")" "size of f"
assert_eq 1 "$(stat -c %s "$M/f")" "size of f, from the kernel's cache"
stat "$M/bump" >/dev/null 2>&1 || true
assert_eq 2 "$(stat -c %s "$M/f")" "size of f after the server's INVAL_INODE"
stat "$M/bump" >/dev/null 2>&1 || true
stat "$M/bump" >/dev/null 2>&1 || true
assert_eq 4 "$(stat -c %s "$M/f")" "size of f after two more"

log "the server's notifications reach perfuse's own clients, whose caches drop them"
IOLOOP=$BUILD/tests/kernel/ioloop
[ -x "$IOLOOP" ] || fail "$IOLOOP is missing: build first (make)"
coproc API { "$IOLOOP" api-stat "$PERFUSE_SOCKET" "$M" f 2>"$T/api.err"; }
API_P=$API_PID  # bash unsets API_PID once the coprocess is gone
echo >&"${API[1]}"; read -r sz <&"${API[0]}"
assert_eq 4 "$sz" "size of f through a perfuse session"
echo >&"${API[1]}"; read -r sz <&"${API[0]}"
assert_eq 4 "$sz" "size of f through a perfuse session, from its cache"
stat "$M/bump" >/dev/null 2>&1 || true
echo >&"${API[1]}"; read -r sz <&"${API[0]}"
assert_eq 5 "$sz" "size of f ($sz) through a perfuse session after the server's INVAL_INODE"
exec {API[1]}>&-
wait "$API_P" || fail "ioloop api-stat failed: $(cat "$T/api.err")"
pf_ok umount "$M"

log "a change through the kernel reaches the cache of a perfuse session at once"
M2=$T/mem
mkdir -p "$M2"
pf_ok mount -- "$BUILD/memfs" "$M2"
printf '0123456789' >"$M2/g"
coproc API2 { "$IOLOOP" api-stat "$PERFUSE_SOCKET" "$M2" g 2>"$T/api2.err"; }
API2_P=$API2_PID
echo >&"${API2[1]}"; read -r sz <&"${API2[0]}"
assert_eq 10 "$sz" "size of g through a perfuse session"
# memfs lets a cache keep attributes for 1 s: what follows takes far less.
truncate -s 3 "$M2/g"
echo >&"${API2[1]}"; read -r sz <&"${API2[0]}"
assert_eq 3 "$sz" "size of g through a perfuse session right after a truncate through the kernel"
exec {API2[1]}>&-
wait "$API2_P" || fail "ioloop api-stat failed: $(cat "$T/api2.err")"
pf_ok umount "$M2"
assert_perfused_alive
log "ok"
