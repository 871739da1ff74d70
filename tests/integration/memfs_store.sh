#!/usr/bin/env bash
# memfs --store=FILE: what was fsync'ed survives kill -9 of the filesystem.
# Files, directories, a symlink, a hard link, modes and xattrs are written
# and then fsync'ed (FSYNC through tests/fsyncer.c, which the perfuse
# command never sends, then FSYNCDIR), memfs is killed with SIGKILL, the
# mount ends, and a new memfs started with the same store serves the same
# tree byte for byte with the same inode numbers, numbering new inodes
# above the old ones; what was written after the last fsync is gone.  A
# clean unmount saves too.  A truncated, corrupt or foreign store makes
# memfs refuse to start (perfuse mount fails, memfs says why) and is left
# as it was.
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
FSYNCER=$BUILD/fsyncer
[ -x "$FSYNCER" ] || fail "$FSYNCER is missing"

M=$T/mnt/mem
S=$T/store
REP=$T/report

# fsyncer ARGS...: FSYNC / FSYNCDIR through libperfuse (paths are in the mount).
fsyncer() {
	"$FSYNCER" "$M" "$@" 2>"$T/fsyncer.err" || {
		show "stderr" "$T/fsyncer.err"
		fail "fsyncer $*: failed"
	}
}

# ino PATH: the inode number perfuse stat gives.
ino() {
	pf_ok stat "$1" | sed -n 's/.*Inode: *\([0-9]*\).*/\1/p'
}

# mount_memfs: mount memfs on $M with the store; sets PID.
mount_memfs() {
	pf_ok mount -- "$MEMFS" "$M" --store="$S" --report="$REP"
	PID=$(mount_field "$M" 3)
	assert_match "$PID" '^[1-9][0-9]*$' "pid of the memfs mount in perfuse list"
}

# kill_memfs: SIGKILL the filesystem, wait until its mount is gone.
kill_memfs() {
	local n=100
	kill -KILL "$PID"
	wait_gone "$PID" 10 || fail "memfs (pid $PID) still runs after SIGKILL"
	while [ -n "$(mount_field "$M" 1)" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$M is still listed 10 s after memfs was killed"
		sleep 0.1
	done
}

# check_tree: the tree written below, as it was at the last fsync.
check_tree() {
	local what=$1 root=$2
	pf_ok cat "$M/a/b/big" >"$T/big.back"
	assert_file_eq "$T/big" "$T/big.back" "$what: a/b/big"
	pf_ok cat "$M/hello" >"$T/hello.back"
	assert_file_eq "$T/hello" "$T/hello.back" "$what: hello"
	pf_ok cat "$M/a/hard" >"$T/hard.back"
	assert_file_eq "$T/hello" "$T/hard.back" "$what: a/hard (hard link to hello)"
	pf_ok cat "$M/sparse" >"$T/sparse.back"
	assert_file_eq "$T/sparse" "$T/sparse.back" "$what: sparse"
	pf_ok cat "$M/empty" >"$T/empty.back"
	[ ! -s "$T/empty.back" ] || fail "$what: empty is not empty"
	assert_eq ../hello "$(pf_ok readlink "$M/a/sym")" "$what: readlink a/sym"
	assert_eq "$root" "$(pf_ok ls "$M" | paste -sd ' ')" "$what: perfuse ls of the root"
	assert_eq "$(printf 'b\nhard\npriv\nsym')" "$(pf_ok ls "$M/a")" \
	    "$what: perfuse ls a"
	assert_match "$(pf_ok ls -l -d "$M/a/priv")" '^drwx------ ' "$what: mode of a/priv"
	assert_contains "$(pf_ok stat "$M/hello")" "0640/-rw-r-----" "$what: mode of hello"
	assert_match "$(pf_ok stat "$M/hello")" 'Links: 2' "$what: links of hello"
	assert_eq blue "$(pf_ok xattr get "$M/hello" user.color)" "$what: xattr user.color"
	assert_eq "$inos" "$(for p in "${paths[@]}"; do ino "$M/$p"; done)" \
	    "$what: inode numbers"
	pf_ok cat "$M/big2" >"$T/big2.back"
	assert_file_eq "$T/big2" "$T/big2.back" "$what: big2 (written and fsync'ed by one handle)"
}

log "mount memfs with a store that does not exist yet"
mount_memfs
assert_eq "" "$(pf_ok ls "$M")" "perfuse ls of the new, empty memfs"

log "write a tree, fsync a file"
printf 'hello, store\n' >"$T/hello"
rand_file "$T/big" 300001
pf_ok mkdir -p "$M/a/b"
pf_ok mkdir -m 700 "$M/a/priv"
pf_ok put "$T/hello" "$M/hello"
pf_ok xattr set "$M/hello" user.color blue
pf_ok ln "$M/hello" "$M/a/hard"
pf_ok ln -s ../hello "$M/a/sym"
pf_ok put "$T/big" "$M/a/b/big"
pf_ok touch "$M/empty"
pf_ok truncate -s 70000 "$M/sparse"      # no data stored, all zeros
head -c 70000 /dev/zero >"$T/sparse"
fsyncer fsync /hello
[ -s "$S" ] || fail "FSYNC did not create the store $S"
[ ! -e "$S.tmp" ] || fail "$S.tmp is left after a save"

log "write and fsync through one handle; then FSYNCDIR after a change"
rand_file "$T/big2" 1000003
fsyncer write /big2 "$T/big2"
printf 'changed\n' >"$T/hello"
pf_ok put "$T/hello" "$M/hello"      # put gives it the mode of $T/hello
pf_ok chmod 640 "$M/hello"
pf_ok put "$T/hello" "$M/doomed"
fsyncer fsyncdir
paths=(. a a/b a/b/big a/priv a/sym hello a/hard empty sparse big2)
inos=$(for p in "${paths[@]}"; do ino "$M/$p"; done)
assert_eq 1 "$(ino "$M")" "inode number of the root"
maxino=$(sort -n <<<"$inos" | tail -n 1)

log "unsynced changes: a new file, a removed one, an appended one"
pf_ok put "$T/hello" "$M/unsynced"
pf_ok rm "$M/doomed"
pf_ok put "$T/big" "$M/big2"

log "kill -9 memfs, mount again with the same store"
kill_memfs
mount_memfs
check_tree "after kill -9" "a big2 doomed empty hello sparse"
expect_fail 1 pf stat "$M/unsynced"
assert_contains "$ERR" "No such file" "stat of a file created after the last fsync"
pf_ok cat "$M/doomed" >"$T/doomed.back"   # removed after the last fsync
assert_file_eq "$T/hello" "$T/doomed.back" "doomed"

log "new inodes are numbered above every earlier one"
pf_ok put "$T/hello" "$M/new"
newino=$(ino "$M/new")
[ "$newino" -gt "$maxino" ] ||
    fail "a new inode got number $newino, not above $maxino of the last run"
pf_ok rm "$M/doomed"

log "a clean unmount saves too"
pf_ok umount "$M"
assert_ended memfs "$PID"
assert_match "$(cat "$REP")" '^outstanding=0$' "memfs report after umount"
mount_memfs
check_tree "after umount" "a big2 empty hello new sparse"
assert_eq "$newino" "$(ino "$M/new")" "inode number of new after umount"
expect_fail 1 pf stat "$M/doomed"
pf_ok rm "$M/new"
pf_ok umount "$M"
assert_ended memfs "$PID"
cp "$S" "$T/good"

# bad_store NAME: memfs must refuse $S and leave it as it was.
bad_store() {
	cp "$S" "$T/bad"
	expect_fail 1 pf mount -- "$MEMFS" "$M" --store="$S"
	assert_contains "$ERR$(cat "$PERFUSED_LOG")" "memfs: cannot load store $S" \
	    "perfuse mount's stderr and perfused's log for a $1 store"
	printf '%s\n' "$ERR" | sed 's/^/    /'
	assert_eq "" "$(pf_ok list)" "perfuse list after memfs refused a $1 store"
	assert_file_eq "$T/bad" "$S" "the $1 store after memfs refused it"
	cp "$T/good" "$S"
}

log "a truncated store"
size=$(stat -c %s "$S")
truncate -s $((size / 2)) "$S"
bad_store truncated
truncate -s $((size - 1)) "$S"
bad_store "one byte short"
log "a corrupt store (one byte of file data changed)"
printf 'X' | dd of="$S" bs=1 seek=$((size / 2)) conv=notrunc status=none
bad_store corrupt
log "not a store"
printf 'hello\n' >"$S"
bad_store foreign
: >"$S"
bad_store empty

log "the good store still mounts"
mount_memfs
check_tree "after the refused stores" "a big2 empty hello sparse"
pf_ok umount "$M"
assert_ended memfs "$PID"

assert_perfused_alive
fail_deferred
log "ok"
