#!/usr/bin/env bash
# The real squashfuse, unmodified, served by perfused: mount an image of a
# generated tree and read all of it back with the perfuse command.
. "$(dirname "$0")/../lib.sh"

SRC=$T/src
IMG=$T/tree.sqfs
M=$T/mnt/sq          # the mount's name; it does not exist locally

log "generate the tree and its image"
make_tree "$SRC"
make_squashfs "$SRC" "$IMG"

log "mount"
pf_ok mount -- squashfuse "$IMG" "$M"

log "list shows the mount with a 7.N protocol"
list=$(pf_ok list)
assert_eq 1 "$(awk -F '\t' -v t="$M" '$1 == t' <<<"$list" | wc -l)" \
    "number of '$M' lines in perfuse list"
line=$(awk -F '\t' -v t="$M" '$1 == t' <<<"$list")
assert_eq 4 "$(awk -F '\t' '{ print NF }' <<<"$line")" "fields in '$line'"
assert_contains "$(cut -f2 <<<"$line")" squashfuse "command of the mount"
pid=$(cut -f3 <<<"$line")
assert_match "$pid" '^[1-9][0-9]*$' "pid field of '$line'"
pid_alive "$pid" || fail "pid $pid of the listed filesystem is not running"
assert_match "$(cut -f4 <<<"$line")" '^7\.[0-9]+$' "protocol field of '$line'"

log "-S SOCKET selects perfused as PERFUSE_SOCKET does"
assert_eq "$list" "$(env -u PERFUSE_SOCKET "$PERFUSE" -S "$PERFUSE_SOCKET" list)" \
    "perfuse -S SOCKET list"
assert_eq hello.txt "$(env -u PERFUSE_SOCKET "$PERFUSE" -S "$PERFUSE_SOCKET" \
    readlink "$M/link")" "perfuse -S SOCKET readlink $M/link"

log "ls"
assert_eq "$(ls -1 "$SRC")" "$(pf_ok ls "$M")" "perfuse ls $M"
assert_eq "$(ls -1 "$SRC/many")" "$(pf_ok ls "$M/many")" "perfuse ls $M/many"
assert_eq "$(ls -1 "$SRC/sub/deep")" "$(pf_ok ls "$M/sub/deep")" \
    "perfuse ls $M/sub/deep"
assert_eq "" "$(pf_ok ls "$M/sub/emptydir")" "perfuse ls of an empty directory"

log "ls -a"
# "." and ".." appear only if the filesystem's READDIR returns them (as
# with coreutils over a kernel mount; squashfuse does not): ignore them.
got=$(pf_ok ls -a "$M")
assert_eq "$(ls -1 -A "$SRC")" "$(grep -vxE '\.\.?' <<<"$got")" "perfuse ls -a $M"
assert_contains "$got" .hidden "perfuse ls -a $M"
assert_not_contains "$(pf_ok ls "$M")" .hidden "perfuse ls $M (without -a)"

log "ls -d"
assert_eq "$M/sub" "$(pf_ok ls -d "$M/sub")" "perfuse ls -d $M/sub"

log "ls -l"
# Compare mode, size (but of directories, which differ between file
# systems) and name (or link target) with the local tree.
ls_l_fields() {
	awk 'NF >= 8 && $1 != "total" {
		size = substr($1, 1, 1) == "d" ? "-" : $5
		print substr($1, 1, 10), size, $NF
	}' | sort
}
exp=$(ls -l "$SRC" | ls_l_fields)
got=$(pf_ok ls -l "$M" | ls_l_fields)
assert_eq "$exp" "$got" "mode, size and last field of perfuse ls -l $M"
got=$(pf_ok ls -l "$M")
assert_contains "$got" "link -> hello.txt" "perfuse ls -l $M"
got=$(pf_ok ls -l "$M/big.bin")
assert_match "$got" '^-rw-r--r-- .* 5242880 .*big\.bin$' "perfuse ls -l $M/big.bin"

log "stat"
got=$(pf_ok stat "$M/big.bin")
assert_match "$got" 'Size: 5242880' "perfuse stat $M/big.bin"
assert_contains "$got" "regular file" "perfuse stat $M/big.bin"
got=$(pf_ok stat "$M/link")
assert_contains "$got" "symbolic link" "perfuse stat $M/link"
got=$(pf_ok stat "$M/sub")
assert_contains "$got" "directory" "perfuse stat $M/sub"
got=$(pf_ok stat "$M/private.txt")
assert_contains "$got" "0600/-rw-------" "perfuse stat $M/private.txt"
# The image keeps the owner of the files we generated: us.
assert_match "$got" "Uid: \\( *$(id -u)/" "owner in perfuse stat $M/private.txt"

log "cat every file, byte for byte"
while IFS= read -r -d '' f; do
	rel=${f#"$SRC"/}
	case $rel in many/*) continue;; esac
	pf_ok cat "$M/$rel" >"$T/cat.out"
	assert_file_eq "$f" "$T/cat.out" "perfuse cat $M/$rel"
done < <(find "$SRC" -type f -print0)
# The 1000 small files in one command, as cat(1) concatenates them.
mapfile -t names < <(ls -1 "$SRC/many")
pf_ok cat "${names[@]/#/$M/many/}" >"$T/cat.out"
(cd "$SRC/many" && cat "${names[@]}") >"$T/cat.exp"
assert_file_eq "$T/cat.exp" "$T/cat.out" "perfuse cat of the 1000 files of many/"
# Through symlinks: cat follows the final link.
pf_ok cat "$M/link" >"$T/cat.out"
assert_file_eq "$SRC/hello.txt" "$T/cat.out" "perfuse cat $M/link"
pf_ok cat "$M/link-deep" >"$T/cat.out"
assert_file_eq "$SRC/sub/deep/deeper/leaf.txt" "$T/cat.out" "perfuse cat $M/link-deep"

log "readlink"
assert_eq hello.txt "$(pf_ok readlink "$M/link")" "perfuse readlink $M/link"
assert_eq ../hello.txt "$(pf_ok readlink "$M/sub/up")" "perfuse readlink $M/sub/up"
assert_eq does-not-exist "$(pf_ok readlink "$M/dangling")" \
    "perfuse readlink $M/dangling"

log "get a single file"
pf_ok get "$M/big.bin" "$T/big.copy"
assert_file_eq "$SRC/big.bin" "$T/big.copy" "perfuse get $M/big.bin"

log "get -r of the whole tree"
pf_ok get -r "$M" "$T/copy"
if ! diff -r --no-dereference "$SRC" "$T/copy" >"$T/diff.out" 2>&1; then
	head -n 40 "$T/diff.out" >&2
	fail "perfuse get -r $M $T/copy: the copy differs from the source"
fi
assert_eq "$(ls -1 -a "$SRC" | wc -l)" "$(ls -1 -a "$T/copy" | wc -l)" \
    "number of entries copied by get -r"
assert_eq does-not-exist "$(readlink "$T/copy/dangling")" \
    "dangling symlink copied by get -r"

log "df"
got=$(pf_ok df "$M")
assert_contains "$got" "$M" "perfuse df $M"

log "errors inside the mount"
expect_fail 1 pf cat "$M/no-such-file"
assert_contains "$ERR" "$M/no-such-file" "stderr of perfuse cat of a missing file"
expect_fail 1 pf ls "$M/no-such-dir"
expect_fail 1 pf readlink "$M/hello.txt"
# A read-only filesystem refuses writes.
expect_fail 1 pf mkdir "$M/newdir"
expect_fail 1 pf put "$SRC/hello.txt" "$M/new.txt"

log "umount"
pf_ok umount "$M"
wait_gone "$pid" 15 || fail "squashfuse (pid $pid) still runs after umount"
assert_eq "" "$(pf_ok list)" "perfuse list after umount"
expect_fail 1 pf ls "$M"

assert_perfused_alive
log "ok"
