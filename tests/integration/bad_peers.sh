#!/usr/bin/env bash
# Misbehaving peers on both sides of perfused (tests/badpeer.c): a FUSE
# server that answers LOOKUP with garbage, a reply nobody asked for, a
# length field that lies and a reply one byte short; and a client that
# sends a truncated FUSE message.  The request fails with EIO, the client is
# disconnected, and perfused serves this mount and another one afterwards.
. "$(dirname "$0")/../lib.sh"

BADPEER=$BUILD/badpeer
B=$T/mnt/bad

log "a server that sends garbage and wrong replies"
pf_ok mount --attach=fd -- "$BADPEER" server "$B"
pf_ok stat "$B" >/dev/null
expect_fail 1 pf stat "$B/x"
assert_eq "perfuse: $B/x: Input/output error" "$(head -n 1 <<<"$ERR")" \
    "stderr of perfuse stat through a server that replies badly"
pf_ok stat "$B" >/dev/null
assert_perfused_alive

log "a client that sends a truncated FUSE message"
"$BADPEER" client "$PERFUSE_SOCKET" "$B" || fail "perfused did not drop the truncated client"
pf_ok ls -d "$B" >/dev/null
assert_perfused_alive

log "a mount frame whose lengths do not add up"
"$BADPEER" frame "$PERFUSE_SOCKET" || fail "perfused did not refuse a bad mount frame"
assert_perfused_alive

log "a filesystem that never answers INIT: a timeout, and no process left"
expect_fail 1 pf mount -o init_timeout=2 --attach=fd -- sh -c 'sleep 300' "$T/mnt/never"
assert_contains "$ERR" "did not answer INIT within 2 s" "stderr of a mount that timed out"
sleep 0.5
if pgrep -f 'sleep 300' >/dev/null; then fail "the timed-out filesystem left a process"; fi
assert_perfused_alive

log "another mount still works"
M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M" --report="$T/rep"
pf_ok put "$TESTS_DIR/data/lorem.txt" "$M/f"
pf_ok cat "$M/f" >"$T/f.out"
assert_file_eq "$TESTS_DIR/data/lorem.txt" "$T/f.out" "perfuse cat beside a bad mount"
pf_ok umount "$B"
pf_ok umount "$M"
assert_match "$(cat "$T/rep")" '^outstanding=0$' "memfs report"
assert_perfused_alive
log "ok"
