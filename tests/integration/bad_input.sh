#!/usr/bin/env bash
# Wrong commands, filesystems that fail before INIT, paths outside any mount
# and missing files: each gets a clear error and the right exit status, and
# none of it harms perfused, which then serves a new mount as usual.
. "$(dirname "$0")/../lib.sh"

log "usage errors: exit 2"
expect_fail 2 pf
expect_fail 2 pf no-such-command
expect_fail 2 pf mount
expect_fail 2 pf mount --

log "a filesystem that exits before INIT: exit 1"
expect_fail 1 pf mount -- false /x
expect_fail 1 pf mount -- sh -c 'echo boom >&2; exit 3' /x
assert_contains "$ERR" boom "stderr of perfuse mount of a filesystem that said boom"
expect_fail 1 pf mount -- "$T/no-such-program" /x
assert_eq "" "$(pf_ok list)" "perfuse list after the failed mounts"
assert_perfused_alive

log "a filesystem that hangs up without answering INIT"
expect_fail 1 pf mount -- sh -c 'sleep 0.2; echo gone >&2' /x
assert_perfused_alive

log "paths under no mount"
expect_fail 1 pf ls /nowhere/x
assert_eq "perfuse: /nowhere/x: not under any perfuse mount" \
    "$(head -n 1 <<<"$ERR")" "stderr of perfuse ls /nowhere/x"
expect_fail 1 pf cat /nowhere/x
assert_contains "$ERR" "/nowhere/x: not under any perfuse mount" "stderr of perfuse cat"
expect_fail 1 pf stat /nowhere/x
expect_fail 1 pf umount /nowhere
expect_fail 1 pf put "$TESTS_DIR/data/lorem.txt" /nowhere/x

log "a mount, then missing files in it"
M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M" --report="$T/rep1"
expect_fail 1 pf cat "$M/nonexistent"
assert_eq "perfuse: $M/nonexistent:" "$(head -n 1 <<<"$ERR" | cut -d' ' -f1-2)" \
    "stderr of perfuse cat of a missing file"
expect_fail 1 pf ls "$M/nonexistent"
expect_fail 1 pf stat "$M/nonexistent/deeper"
expect_fail 1 pf get "$M/nonexistent" "$T/out"
[ ! -e "$T/out" ] || fail "perfuse get of a missing file created $T/out"
expect_fail 1 pf put "$T/no-such-local-file" "$M/x"
expect_fail 1 pf rmdir "$M/nonexistent"
expect_fail 1 pf readlink "$M/nonexistent"
expect_fail 1 pf xattr get "$M/nonexistent" user.x
pf_ok put "$TESTS_DIR/data/lorem.txt" "$M/f"
expect_fail 1 pf ls "$M/f/below-a-file"
expect_fail 1 pf mkdir "$M/f"
expect_fail 1 pf rmdir "$M/f"

log "a socket where no perfused listens"
expect_fail 1 pf -S "$T/nothing.sock" cat "$M/f"

log "the same target twice"
expect_fail 1 pf mount -- "$MEMFS" "$M" --report="$T/rep-dup"

log "a second mount still works"
M2=$T/mnt/second
pf_ok mount -- "$MEMFS" "$M2" --report="$T/rep2"
pf_ok put "$TESTS_DIR/data/lorem.txt" "$M2/lorem.txt"
pf_ok cat "$M2/lorem.txt" >"$T/lorem.out"
assert_file_eq "$TESTS_DIR/data/lorem.txt" "$T/lorem.out" "perfuse cat on the second mount"
assert_eq "$(printf '%s\n' "$M" "$M2" | sort)" "$(pf_ok list | cut -f1 | sort)" \
    "targets in perfuse list"

log "umount both"
pf_ok umount "$M2"
pf_ok umount "$M"
expect_fail 1 pf umount "$M"
assert_eq "" "$(pf_ok list)" "perfuse list after umount"
for r in "$T/rep1" "$T/rep2"; do
	assert_match "$(cat "$r" 2>/dev/null)" '^destroyed=1$' "memfs report $r"
done

assert_perfused_alive
log "ok"
