#!/usr/bin/env bash
# fuse2fs (libfuse2) on an ext4 image made at test time; auto must pick the
# preload shim.  Files written (one a few MiB of random data), a directory
# made, a rename, an unlink, xattrs; after umount the image must pass
# "e2fsck -fn" and hold the data (read independently with debugfs); a
# second mount reads everything back byte for byte.
. "$(dirname "$0")/../lib.sh"
asan_allow_shim

IMG=$T/ext4.img
M=$T/mnt/ext4
EXP=$T/expected      # what the filesystem should hold, built locally

# e2fsck_clean WHAT: the image passes a forced, read-only check.
e2fsck_clean() {
	local rc=0
	e2fsck -fn "$IMG" >"$T/e2fsck.out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		show "e2fsck -fn $IMG" "$T/e2fsck.out"
		fail "e2fsck -fn after $1: exit status $rc, expected 0 (clean)"
	fi
}

# check_all WHAT: every file of EXP reads back the same through the mount,
# and the top directory holds what EXP holds (and lost+found).
check_all() {
	local f rel
	while IFS= read -r -d '' f; do
		rel=${f#"$EXP"/}
		pf_ok cat "$M/$rel" >"$T/cat.out"
		assert_file_eq "$f" "$T/cat.out" "perfuse cat $M/$rel ($1)"
	done < <(find "$EXP" -type f -print0)
	assert_eq "$(ls -1 "$EXP"; echo lost+found)" "$(pf_ok ls "$M" | LC_ALL=C sort)" \
	    "perfuse ls $M ($1)"
	pf_ok get -r "$M/dir" "$T/dir.$1"
	if ! diff -r "$EXP/dir" "$T/dir.$1" >"$T/diff.out" 2>&1; then
		head -n 40 "$T/diff.out" >&2
		fail "perfuse get -r $M/dir ($1): differs from what was written"
	fi
}

log "mkfs.ext4"
mkfs.ext4 -q -F "$IMG" 32M >"$T/mkfs.out" 2>&1 || {
	cat "$T/mkfs.out" >&2
	fail "mkfs.ext4 -q -F $IMG 32M failed"
}
mkdir -p "$M" "$EXP/dir/sub"
rand_file "$EXP/big.bin" $((5 * 1024 * 1024 + 111))
cp "$TESTS_DIR/data/lorem.txt" "$EXP/lorem.txt"
printf 'hello, ext4\n' >"$EXP/hello.txt"
rand_file "$EXP/dir/odd.bin" 200003
seq 1 20000 >"$EXP/dir/sub/numbers.txt"
printf 'to be renamed\n' >"$EXP/dir/sub/renamed.txt"

log "mount (auto: preload)"
pf_ok mount -- fuse2fs "$IMG" "$M" -o fakeroot
assert_attach "$M" preload
pid=$(serving_pid "$M" fuse2fs)
assert_listed "$M" fuse2fs "$pid"
assert_eq lost+found "$(pf_ok ls "$M")" "perfuse ls of the new filesystem"

log "write files, mkdir"
pf_ok put "$EXP/big.bin" "$M/big.bin"
pf_ok put "$EXP/lorem.txt" "$M/lorem.txt"
pf_ok put "$EXP/hello.txt" "$M/hello.txt"
pf_ok mkdir -p "$M/dir/sub"
pf_ok put "$EXP/dir/odd.bin" "$M/dir/odd.bin"
pf_ok put "$EXP/dir/sub/numbers.txt" "$M/dir/sub/numbers.txt"

log "rename, unlink"
pf_ok put "$EXP/dir/sub/renamed.txt" "$M/before-rename.txt"
pf_ok mv "$M/before-rename.txt" "$M/dir/sub/renamed.txt"
expect_fail 1 pf stat "$M/before-rename.txt"
pf_ok put "$EXP/lorem.txt" "$M/doomed.txt"
pf_ok mkdir "$M/doomed-dir"
pf_ok rm "$M/doomed.txt"
pf_ok rmdir "$M/doomed-dir"
expect_fail 1 pf stat "$M/doomed.txt"

log "xattrs"
pf_ok xattr set "$M/hello.txt" user.color blue
pf_ok xattr set "$M/dir" user.kind directory
pf_ok xattr set "$M/hello.txt" user.gone soon
pf_ok xattr rm "$M/hello.txt" user.gone
assert_eq blue "$(pf_ok xattr get "$M/hello.txt" user.color)" "xattr get user.color"
assert_not_contains "$(pf_ok xattr list "$M/hello.txt")" user.gone "xattr list after rm"

log "read back while mounted"
check_all mounted

log "umount, e2fsck, debugfs"
pf_ok umount "$M"
assert_ended fuse2fs "$pid"
assert_eq "" "$(pf_ok list)" "perfuse list after umount"
e2fsck_clean "the first umount"
# The data is in the image itself, read without FUSE at all.
debugfs -R "dump /big.bin $T/big.debugfs" "$IMG" >/dev/null 2>&1 || true
assert_file_eq "$EXP/big.bin" "$T/big.debugfs" "/big.bin dumped by debugfs"
debugfs -R "dump /dir/sub/renamed.txt $T/renamed.debugfs" "$IMG" >/dev/null 2>&1 || true
assert_file_eq "$EXP/dir/sub/renamed.txt" "$T/renamed.debugfs" \
    "/dir/sub/renamed.txt dumped by debugfs"
assert_eq blue "$(debugfs -R "ea_get -V /hello.txt user.color" "$IMG" 2>/dev/null)" \
    "user.color of /hello.txt read by debugfs"

log "remount, read everything back"
pf_ok mount -- fuse2fs "$IMG" "$M" -o fakeroot
pid=$(serving_pid "$M" "fuse2fs, remounted")
check_all remounted
expect_fail 1 pf stat "$M/doomed.txt"
expect_fail 1 pf stat "$M/before-rename.txt"
assert_eq blue "$(pf_ok xattr get "$M/hello.txt" user.color)" "user.color after remount"
assert_eq directory "$(pf_ok xattr get "$M/dir" user.kind)" "user.kind after remount"
expect_fail 1 pf xattr get "$M/hello.txt" user.gone
pf_ok umount "$M"
assert_ended "fuse2fs (remount)" "$pid"
e2fsck_clean "the second umount"

if pgrep -x fuse2fs >/dev/null; then
	fail "fuse2fs processes left: $(pgrep -a -x fuse2fs | tr '\n' ' ')"
fi
assert_perfused_alive
fail_deferred
log "ok"
