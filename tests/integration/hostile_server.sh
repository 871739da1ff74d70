#!/usr/bin/env bash
# One named case per misbehaving FUSE server (tests/badpeer.c): each case
# checks the error the client gets and that perfused is alive afterwards;
# at the end a real filesystem is mounted and served as if nothing happened.
. "$(dirname "$0")/../lib.sh"

BADPEER=$BUILD/badpeer

# mount_case CASE: mount the hostile server (2 s request timeout).
mount_case() {
	B=$T/mnt/$1
	pf_ok mount -o timeout=2 --attach=fd -- "$BADPEER" server "$1" "$B"
	pf_ok stat "$B" >/dev/null
}

# stat_fails CASE REASON: a lookup through the case's server fails so.
stat_fails() {
	mount_case "$1"
	expect_fail 1 pf stat "$B/x"
	assert_eq "perfuse: $B/x: $2" "$(head -n 1 <<<"$ERR")" "case $1: stderr of stat"
	pf_ok stat "$B" >/dev/null
	assert_perfused_alive
	pf_ok umount "$B"
}

for c in garbage short oversized error-range; do
	log "case $c: the request fails with EIO, the mount goes on"
	stat_fails "$c" "Input/output error"
done

log "case wrong-unique: the stray reply is dropped, the request times out"
stat_fails wrong-unique "Connection timed out"

log "case never: ETIMEDOUT after the timeout, and umount of the hung server completes"
stat_fails never "Connection timed out"

log "case late: ETIMEDOUT, then the late reply is dropped"
mount_case late
expect_fail 1 pf stat "$B/x"
assert_eq "perfuse: $B/x: Connection timed out" "$(head -n 1 <<<"$ERR")" "case late"
sleep 2
pf_ok stat "$B" >/dev/null
assert_perfused_alive
pf_ok umount "$B"

log "case duplicate: the second reply is dropped"
mount_case duplicate
pf_ok stat "$B/x" >/dev/null
pf_ok stat "$B/y" >/dev/null
pf_ok umount "$B"

log "case forget-reply: replies to FORGET are dropped"
mount_case forget-reply
pf_ok stat "$B/x" >/dev/null
pf_ok stat "$B/x" >/dev/null
assert_perfused_alive
pf_ok umount "$B"

log "case bad-mode: an impossible file mode is EIO"
stat_fails bad-mode "Input/output error"

for c in readdir-slash readdir-stuck; do
	log "case $c: the listing fails with EIO instead of lying or looping"
	mount_case "$c"
	expect_fail 1 pf ls "$B"
	assert_contains "$ERR" "Input/output error" "case $c: stderr of ls"
	assert_perfused_alive
	pf_ok umount "$B"
done

log "case notify-unknown: notifications about unknown nodes do no harm"
stat_fails notify-unknown "No such file or directory"

log "case exit: the server exits mid-request: ENOTCONN at once, the mount ends"
mount_case exit
expect_fail 1 pf stat "$B/x"
assert_eq "perfuse: $B/x: Transport endpoint is not connected" "$(head -n 1 <<<"$ERR")" \
    "case exit"
sleep 0.3
assert_eq "" "$(pf_ok list | cut -f1 | grep -x "$B" || true)" "case exit: perfuse list"
assert_perfused_alive

log "case init-close: the mount fails"
expect_fail 1 pf mount --attach=fd -- "$BADPEER" server init-close "$T/mnt/ic"
assert_contains "$ERR" "before answering INIT" "case init-close"
assert_perfused_alive

log "case major6: refused"
expect_fail 1 pf mount --attach=fd -- "$BADPEER" server major6 "$T/mnt/m6"
assert_contains "$ERR" "major version" "case major6"
assert_perfused_alive

log "case minor99: the lower minor, ours, wins"
mount_case minor99
assert_eq "7.38" "$(pf_ok list | awk -F'\t' -v t="$B" '$1 == t { print $4 }')" \
    "case minor99: agreed minor"
pf_ok stat "$B/x" >/dev/null
pf_ok umount "$B"

log "a real filesystem is served as usual afterwards"
M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M" --report="$T/rep"
pf_ok put "$TESTS_DIR/data/lorem.txt" "$M/f"
pf_ok cat "$M/f" >"$T/f.out"
assert_file_eq "$TESTS_DIR/data/lorem.txt" "$T/f.out" "memfs after the hostile cases"
pf_ok umount "$M"
assert_match "$(cat "$T/rep")" '^outstanding=0$' "memfs report"
assert_perfused_alive
log "ok"
