#!/usr/bin/env bash
# bindfs (libfuse2: it cannot take /dev/fd/N as its mountpoint) over a
# local directory, through --attach=preload, --attach=fusermount and auto
# (which must pick preload for a program that does not link libfuse3).
# Reads through the mount match the source; what is written, renamed,
# removed and given xattrs through the mount is found so in the source
# directory, checked with the local tools (cmp, getfattr); umount ends
# the bindfs process.
. "$(dirname "$0")/../lib.sh"
asan_allow_shim

SRC=$T/src

log "the source directory"
mkdir -p "$SRC/sub/deeper"
cp "$TESTS_DIR/data/lorem.txt" "$SRC/lorem.txt"
printf 'hello, bindfs\n' >"$SRC/hello.txt"
: >"$SRC/empty"
rand_file "$SRC/big.bin" $((2 * 1024 * 1024 + 77))
printf 'leaf\n' >"$SRC/sub/deeper/leaf.txt"
ln -s hello.txt "$SRC/link"
rand_file "$T/rand" $((3 * 1024 * 1024 + 5))
printf 'short\n' >"$T/short"

# src_xattr FILE NAME: the value of an xattr of a local file, by getfattr.
src_xattr() {
	getfattr --absolute-names --only-values -n "$2" "$1"
}

# user.* xattrs need a local filesystem that has them (tmpfs before Linux
# 6.6 does not): without, the xattr checks cannot be made here.
XATTR=1
if ! setfattr -n user.probe -v 1 "$SRC/empty" 2>/dev/null; then
	XATTR=0
	log "skip: $SRC does not support user.* xattrs; xattrs are not checked"
else
	setfattr -x user.probe "$SRC/empty"
	setfattr -n user.origin -v local "$SRC/hello.txt"
fi

for method in preload fusermount auto; do
	M=$T/mnt/$method
	mkdir -p "$M"   # libfuse2 wants an existing, empty mountpoint

	log "$method: mount"
	if [ "$method" = auto ]; then
		pf_ok mount -- bindfs "$SRC" "$M"
		assert_attach "$M" preload
	else
		pf_ok mount --attach="$method" -- bindfs "$SRC" "$M"
		assert_attach "$M" "$method"
	fi
	pid=$(serving_pid "$M" "bindfs ($method)")
	assert_contains "$(proc_env "$pid" LD_PRELOAD)" libperfuse_preload.so \
	    "LD_PRELOAD of bindfs ($method)"
	assert_listed "$M" bindfs "$pid"

	log "$method: read"
	assert_eq "$(ls -1 "$SRC")" "$(pf_ok ls "$M")" "perfuse ls $M"
	assert_eq deeper "$(pf_ok ls "$M/sub")" "perfuse ls $M/sub"
	for f in lorem.txt hello.txt empty big.bin sub/deeper/leaf.txt; do
		pf_ok cat "$M/$f" >"$T/cat.out"
		assert_file_eq "$SRC/$f" "$T/cat.out" "perfuse cat $M/$f ($method)"
	done
	assert_eq hello.txt "$(pf_ok readlink "$M/link")" "perfuse readlink $M/link"
	pf_ok get "$M/big.bin" "$T/big.out"
	assert_file_eq "$SRC/big.bin" "$T/big.out" "perfuse get $M/big.bin ($method)"
	# A change made beside the mount is seen through it.
	printf 'changed locally (%s)\n' "$method" >"$SRC/hello.txt"
	pf_ok cat "$M/hello.txt" >"$T/cat.out"
	assert_file_eq "$SRC/hello.txt" "$T/cat.out" "perfuse cat after a local change"

	log "$method: write"
	pf_ok put "$T/rand" "$M/new.bin"
	assert_file_eq "$T/rand" "$SRC/new.bin" "$SRC/new.bin written through bindfs ($method)"
	pf_ok put "$T/short" "$M/new.bin"       # smaller: put must truncate
	assert_file_eq "$T/short" "$SRC/new.bin" "$SRC/new.bin overwritten through bindfs"
	pf_ok put "$T/rand" "$M/new.bin"
	pf_ok mkdir "$M/made"
	[ -d "$SRC/made" ] || fail "mkdir through bindfs made no $SRC/made ($method)"

	log "$method: rename"
	pf_ok mv "$M/new.bin" "$M/made/renamed.bin"
	[ ! -e "$SRC/new.bin" ] || fail "$SRC/new.bin still exists after mv ($method)"
	assert_file_eq "$T/rand" "$SRC/made/renamed.bin" "$SRC/made/renamed.bin after mv"
	pf_ok cat "$M/made/renamed.bin" >"$T/cat.out"
	assert_file_eq "$T/rand" "$T/cat.out" "perfuse cat of the renamed file ($method)"

	if [ "$XATTR" = 1 ]; then
		log "$method: xattrs"
		assert_eq local "$(pf_ok xattr get "$M/hello.txt" user.origin)" \
		    "xattr get of an xattr set locally ($method)"
		pf_ok xattr set "$M/made/renamed.bin" user.color blue
		pf_ok xattr set "$M/made/renamed.bin" user.shape round
		assert_eq blue "$(src_xattr "$SRC/made/renamed.bin" user.color)" \
		    "getfattr user.color in the source ($method)"
		assert_eq "$(printf 'user.color\nuser.shape')" \
		    "$(pf_ok xattr list "$M/made/renamed.bin" | sort)" "xattr list ($method)"
		pf_ok xattr rm "$M/made/renamed.bin" user.color
		if src_xattr "$SRC/made/renamed.bin" user.color >/dev/null 2>&1; then
			fail "user.color is still in the source after xattr rm ($method)"
		fi
		assert_eq round "$(src_xattr "$SRC/made/renamed.bin" user.shape)" \
		    "getfattr user.shape in the source after rm of user.color"
		expect_fail 1 pf xattr get "$M/made/renamed.bin" user.color
	fi

	log "$method: unlink"
	pf_ok rm "$M/made/renamed.bin"
	[ ! -e "$SRC/made/renamed.bin" ] || fail "rm through bindfs left the file ($method)"
	pf_ok rmdir "$M/made"
	[ ! -e "$SRC/made" ] || fail "rmdir through bindfs left the directory ($method)"
	expect_fail 1 pf stat "$M/made"
	assert_perfused_alive

	log "$method: umount"
	pf_ok umount "$M"
	assert_ended "bindfs ($method)" "$pid"
	assert_eq "" "$(pf_ok list)" "perfuse list after umount ($method)"
	expect_fail 1 pf ls "$M"
	[ -z "$(procs_with_arg "$M")" ] || fail "a bindfs process is left ($method)"
done

if pgrep -x bindfs >/dev/null; then
	fail "bindfs processes left: $(pgrep -a -x bindfs | tr '\n' ' ')"
fi
assert_perfused_alive
fail_deferred
log "ok"
