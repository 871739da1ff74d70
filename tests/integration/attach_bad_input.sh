#!/usr/bin/env bash
# Wrong uses of the attach methods and of the fusermount stand-ins: each
# fails with the right exit status and a message that says why (the
# filesystem's own when it is the one that refused), nothing is left
# mounted or running, and perfused then serves a fresh mount as usual.
. "$(dirname "$0")/../lib.sh"
asan_allow_shim

FM3=$BUILD/fusermount/fusermount3
FM2=$BUILD/fusermount/fusermount
SRC=$T/src
mkdir -p "$SRC"
printf 'hello, bindfs\n' >"$SRC/hello.txt"
mksquashfs "$SRC" "$T/img.sqfs" -noappend -quiet -no-progress >/dev/null 2>&1 ||
    fail "mksquashfs failed"

# expect_fm CODE CMD ARGS...: a stand-in run by hand exits with CODE and
# its stderr starts with "fusermount: " (libfuse and bazil parse that).
# Afterwards ERR holds its stderr.  A wrong status is a deferred failure.
expect_fm() {
	local want=$1 rc=0
	shift
	"$@" >"$T/fm.out" 2>"$T/fm.err" </dev/null || rc=$?
	ERR=$(cat "$T/fm.err")
	if [ "$rc" != "$want" ]; then
		show "stdout" "$T/fm.out"
		show "stderr" "$T/fm.err"
		# Deferred: the other cases are independent of this one.
		defer_fail "${*#"$BUILD"/}: exit status $rc, expected $want"
		return 0
	fi
	case $ERR in
	"fusermount: "*) ;;
	*)
		show "stderr" "$T/fm.err"
		fail "${*#"$BUILD"/}: stderr does not start with 'fusermount: '";;
	esac
}

log "--attach=bogus: a usage error"
expect_fail 2 pf mount --attach=bogus -- bindfs "$SRC" "$T/m-bogus"
assert_contains "$ERR" "--attach" "stderr of perfuse mount --attach=bogus"
expect_fail 2 pf mount --attach= -- bindfs "$SRC" "$T/m-bogus"

log "--attach=fd with a libfuse2 filesystem: it refuses /dev/fd/N"
mkdir -p "$T/m-fd"
expect_fail 1 pf mount --attach=fd -- bindfs "$SRC" "$T/m-fd"
assert_contains "$ERR" "bindfs" "stderr of perfuse mount --attach=fd -- bindfs"
# bindfs's own words: "Failed to resolve mount point `/dev/fd/3': ...".
assert_contains "$ERR" "/dev/fd/" "stderr of perfuse mount --attach=fd -- bindfs"
assert_eq "" "$(pf_ok list)" "perfuse list after the failed fd mount"

log "--attach=preload / fusermount, a mountpoint that does not exist locally"
for method in preload fusermount; do
	expect_fail 1 pf mount --attach="$method" -- bindfs "$SRC" "$T/nowhere"
	assert_contains "$ERR" "Failed to resolve mount point" \
	    "stderr of bindfs with a missing mountpoint ($method)"
	assert_contains "$ERR" "$T/nowhere" \
	    "stderr of bindfs with a missing mountpoint ($method)"
	# The same with libfuse3.
	expect_fail 1 pf mount --attach="$method" -- squashfuse "$T/img.sqfs" "$T/nowhere"
	assert_contains "$ERR" "bad mount point \`$T/nowhere'" \
	    "stderr of squashfuse with a missing mountpoint ($method)"
done
[ ! -e "$T/nowhere" ] || fail "a failed mount created $T/nowhere"

log "a libfuse2 filesystem on a non-empty mountpoint (preload)"
mkdir -p "$T/m-full"
printf 'x\n' >"$T/m-full/occupant"
expect_fail 1 pf mount -- bindfs "$SRC" "$T/m-full"
assert_contains "$ERR" "mountpoint is not empty" "stderr of bindfs on a non-empty directory"
assert_eq "" "$(pf_ok list)" "perfuse list after the failed mounts"
assert_perfused_alive

log "the fusermount stand-in run by hand"
mkdir -p "$T/x"
expect_fm 1 "$FM3" -o rw -- "$T/x"
assert_contains "$ERR" _FUSE_COMMFD "stderr of fusermount3 without _FUSE_COMMFD"
: >"$T/regular"
expect_fm 1 env _FUSE_COMMFD=5 "$FM3" -o rw -- "$T/x" 5>"$T/regular"
expect_fm 1 env _FUSE_COMMFD=5 "$FM2" -o rw -- "$T/x" 5>"$T/regular"
expect_fm 1 env _FUSE_COMMFD=77 "$FM3" -o rw -- "$T/x"
expect_fm 1 env _FUSE_COMMFD=not-a-number "$FM3" -o rw -- "$T/x"
expect_fm 1 env _FUSE_COMMFD=5 "$FM3" -o rw -- "$T/does-not-exist" 5>"$T/regular"
[ -s "$T/regular" ] && fail "the stand-in wrote into the regular file named by _FUSE_COMMFD"
assert_eq "" "$(pf_ok list)" "perfuse list after the stand-in failed"

log "fusermount -u of what is no perfuse mount"
expect_fm 1 "$FM3" -u "$T/x"
expect_fm 1 "$FM2" -u "$T/x"
expect_fm 1 "$FM3" -u "$T/does-not-exist"
# -q: quiet, but still a failure.
rc=0
"$FM3" -u -q -z "$T/x" >/dev/null 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of fusermount3 -u -q -z of no mount"
assert_perfused_alive

log "nothing left behind"
sleep 0.2
for name in bindfs squashfuse fusermount fusermount3; do
	if pgrep -x "$name" >/dev/null; then
		fail "a $name process is left: $(pgrep -a -x "$name" | tr '\n' ' ')"
	fi
done
assert_eq "" "$(pf_ok list)" "perfuse list at the end"

log "a fresh mount works (auto: preload)"
M=$T/mnt/fresh
mkdir -p "$M"
pf_ok mount -- bindfs "$SRC" "$M"
pf_ok cat "$M/hello.txt" >"$T/hello.out"
assert_file_eq "$SRC/hello.txt" "$T/hello.out" "perfuse cat through the fresh mount"
pf_ok put "$TESTS_DIR/data/lorem.txt" "$M/lorem.txt"
assert_file_eq "$TESTS_DIR/data/lorem.txt" "$SRC/lorem.txt" "a file written through the fresh mount"
pid=$(serving_pid "$M" bindfs)
pf_ok umount "$M"
assert_ended bindfs "$pid"
assert_eq "" "$(pf_ok list)" "perfuse list after umount"

assert_perfused_alive
fail_deferred
log "ok"
