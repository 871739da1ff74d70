#!/usr/bin/env bash
# Notifications from the filesystem reach the kernel through perfused.
# tests/badpeer.c's "notify-kernel" server lets the kernel cache the
# attributes of its file "f" for an hour, and makes "f" grow at each
# lookup of "bump", saying so with NOTIFY_INVAL_INODE: the kernel mount
# must show the new size at once.  Runs as root with a usable /dev/fuse, in
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
pf_ok umount "$M"
assert_perfused_alive
log "ok"
