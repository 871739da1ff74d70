#!/usr/bin/env bash
# Clients older than the filesystem (tests/badpeer.c oldclient): a client
# that offers FUSE 7.12 to 7.30 in its INIT, as an older kernel would, is
# answered at its own minor by perfused (libperfuse's pf_init_answer: the
# structs they exchange have the same sizes from 7.12 on) and reads a
# file byte for byte through memfs (7.31) and bindfs (7.19); one that offers
# 7.8 or 7.11 is refused with EPROTO and a warning that says why.
. "$(dirname "$0")/../lib.sh"

BADPEER=$BUILD/badpeer
[ -x "$BADPEER" ] || fail "$BADPEER is missing"
command -v bindfs >/dev/null || fail "bindfs is missing (make deps)"

rand_file "$T/data" 20000

# reads MOUNT MINORS...: each minor reads MOUNT/data exactly.
reads() {
	local m=$1 mi
	shift
	for mi in "$@"; do
		"$BADPEER" oldclient "$PERFUSE_SOCKET" "$m" "$mi" data >"$T/out" 2>"$T/err" || {
			show "badpeer oldclient $mi" "$T/err"
			fail "a 7.$mi client could not read $m/data"
		}
		cmp -s "$T/data" "$T/out" || fail "a 7.$mi client read other bytes from $m/data"
		assert_contains "$(cat "$T/err")" "7.$mi: size 20000, 20000 bytes read" \
		    "the 7.$mi client's report"
	done
}

# refused MOUNT MINOR: INIT at MINOR is refused, with a reason in the log.
refused() {
	local m=$1 mi=$2
	if "$BADPEER" oldclient "$PERFUSE_SOCKET" "$m" "$mi" data >"$T/out" 2>"$T/err"; then
		fail "a 7.$mi client was served by $m"
	fi
	assert_contains "$(cat "$T/err")" "INIT at 7.$mi: Protocol error" "the 7.$mi client's error"
}

log "memfs (7.31): clients of 7.12 to 7.31"
M=$T/mnt/mem
pf_ok mount --attach=fd -- "$MEMFS" "$M"
pf_ok put "$T/data" "$M/data"
reads "$M" 12 15 18 19 23 28 30 31
refused "$M" 11
refused "$M" 8
assert_match "$(cat "$PERFUSED_LOG")" \
    "$M: client pid [0-9]+: INIT: the client's FUSE minor is older than 7.12 and the server's" \
    "perfused's log"
pf_ok umount "$M"

log "bindfs (7.19): clients of 7.12 to 7.19"
S=$T/src B=$T/mnt/bind
mkdir -p "$S" "$B"
cp "$T/data" "$S/data"
pf_ok mount -- bindfs "$S" "$B"
reads "$B" 12 16 19
refused "$B" 9
pf_ok umount "$B"
assert_perfused_alive
log "done"
