#!/usr/bin/env bash
# The memfs example (libfuse3 low-level, in memory, counting lookup
# references) through each attach method: fd, preload and fusermount.
# Data through put/get byte for byte, mkdir, rename, unlink, xattrs; then
# umount.  With every method perfused sends DESTROY at umount (its log says
# so: "-> DESTROY", and the answer "<- DESTROY ... error 0"), so memfs's
# report must say destroyed=1 with no reference left (outstanding=0) and no
# bad FORGET (bad_forgets=0).
#
# perfused logs its requests ("ops") for this test, to see DESTROY: memfs's
# destroyed=1 alone would not tell, since libfuse's fuse_session_destroy()
# calls the destroy callback itself when DESTROY never came.
PERFUSE_DEBUG=${PERFUSE_DEBUG:+$PERFUSE_DEBUG,}ops
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
asan_allow_shim

rand_file "$T/rand" $((3 * 1024 * 1024 + 1234))
rand_file "$T/small" 5000
printf 'renamed content\n' >"$T/mv.txt"

for method in fd preload fusermount; do
	M=$T/mnt/$method
	REP=$T/report.$method
	mkdir -p "$M"   # preload and fusermount: libfuse stats the mountpoint

	log "$method: mount"
	pf_ok mount --attach="$method" -- "$MEMFS" "$M" --report="$REP"
	assert_attach "$M" "$method"
	pid=$(serving_pid "--report=$REP" "memfs ($method)")
	assert_listed "$M" memfs "$pid"
	assert_eq "" "$(pf_ok ls "$M")" "perfuse ls of the new, empty memfs ($method)"

	log "$method: put / get a 3 MiB random file"
	pf_ok put "$T/rand" "$M/rand"
	pf_ok get "$M/rand" "$T/rand.$method"
	assert_file_eq "$T/rand" "$T/rand.$method" "put then get ($method)"
	pf_ok cat "$M/rand" >"$T/rand.cat"
	assert_file_eq "$T/rand" "$T/rand.cat" "perfuse cat ($method)"
	assert_match "$(pf_ok stat "$M/rand")" "Size: $((3 * 1024 * 1024 + 1234))([^0-9]|\$)" \
	    "perfuse stat $M/rand"

	log "$method: mkdir"
	pf_ok mkdir -p "$M/a/b"
	pf_ok mkdir "$M/c"
	assert_eq "$(printf 'a\nc\nrand')" "$(pf_ok ls "$M")" "perfuse ls $M after mkdir"
	assert_contains "$(pf_ok stat "$M/a/b")" directory "perfuse stat $M/a/b"
	expect_fail 1 pf mkdir "$M/c"

	log "$method: mv (rename)"
	pf_ok put "$T/mv.txt" "$M/a/f"
	pf_ok mv "$M/a/f" "$M/a/b/g"
	expect_fail 1 pf stat "$M/a/f"
	pf_ok cat "$M/a/b/g" >"$T/mv.out"
	assert_file_eq "$T/mv.txt" "$T/mv.out" "content after mv ($method)"
	pf_ok put "$T/small" "$M/c/victim"
	pf_ok mv "$M/a/b/g" "$M/c/victim"      # over an existing file
	pf_ok cat "$M/c/victim" >"$T/mv.out"
	assert_file_eq "$T/mv.txt" "$T/mv.out" "content after mv over a file ($method)"
	assert_eq "" "$(pf_ok ls "$M/a/b")" "perfuse ls $M/a/b after mv"
	pf_ok mv "$M/c" "$M/a/c2"              # a directory
	assert_eq victim "$(pf_ok ls "$M/a/c2")" "perfuse ls $M/a/c2 after mv of a directory"

	log "$method: xattr set / get / list / rm"
	pf_ok xattr set "$M/rand" user.color blue
	pf_ok xattr set "$M/a" user.shape round
	assert_eq blue "$(pf_ok xattr get "$M/rand" user.color)" "xattr get user.color ($method)"
	assert_eq round "$(pf_ok xattr get "$M/a" user.shape)" "xattr get user.shape ($method)"
	pf_ok xattr set "$M/rand" user.color green
	assert_eq green "$(pf_ok xattr get "$M/rand" user.color)" "xattr get after a second set"
	pf_ok xattr set "$M/rand" user.size big
	assert_eq "$(printf 'user.color\nuser.size')" "$(pf_ok xattr list "$M/rand" | sort)" \
	    "xattr list ($method)"
	pf_ok xattr rm "$M/rand" user.color
	assert_eq user.size "$(pf_ok xattr list "$M/rand")" "xattr list after rm ($method)"
	expect_fail 1 pf xattr get "$M/rand" user.color

	log "$method: rm (unlink), rmdir"
	pf_ok rm "$M/a/c2/victim"
	expect_fail 1 pf stat "$M/a/c2/victim"
	pf_ok rmdir "$M/a/c2"
	pf_ok rm "$M/rand"
	expect_fail 1 pf cat "$M/rand"
	pf_ok rm -r "$M/a"
	assert_eq "" "$(pf_ok ls "$M")" "perfuse ls of the emptied memfs ($method)"
	# Something left in it at umount: its references too must be forgotten.
	pf_ok put "$T/small" "$M/kept"

	log "$method: umount"
	pf_ok umount "$M"
	assert_ended "memfs ($method)" "$pid"
	assert_eq "" "$(pf_ok list)" "perfuse list after umount ($method)"
	assert_match "$(grep -F "$M: -> DESTROY " "$PERFUSED_LOG")" . \
	    "perfused's log: DESTROY sent to $M ($method)"
	assert_match "$(grep -F "$M: <- DESTROY " "$PERFUSED_LOG")" ' error 0 ' \
	    "perfused's log: DESTROY answered by $M ($method)"

	log "$method: memfs report"
	[ -f "$REP" ] || fail "memfs wrote no report ($REP, $method)"
	sed 's/^/  /' "$REP"
	rep=$(cat "$REP")
	assert_match "$rep" '^destroyed=1$' "memfs report, $method (DESTROY received)"
	assert_match "$rep" '^outstanding=0$' "memfs report, $method (references not forgotten)"
	assert_match "$rep" '^bad_forgets=0$' "memfs report, $method (bad FORGETs)"
	lookups=$(sed -n 's/^lookups=//p' <<<"$rep")
	forgets=$(sed -n 's/^forgets=//p' <<<"$rep")
	[ -n "$lookups" ] && [ "$lookups" -gt 0 ] ||
	    fail "memfs report ($method): lookups=$lookups, expected a positive count"
	assert_eq "$lookups" "$forgets" "memfs report ($method): forgets against lookups"
done

assert_perfused_alive
fail_deferred
log "ok"
