#!/usr/bin/env bash
# Every writing command of perfuse against the memfs example (libfuse3
# low-level, in memory), then the filesystem's own report at DESTROY: every
# lookup reference perfuse was given must have been forgotten.
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"

M=$T/mnt/mem
REP=$T/report

log "mount memfs"
pf_ok mount -- "$MEMFS" "$M" --report="$REP"
pid=$(mount_field "$M" 3)
assert_match "$pid" '^[1-9][0-9]*$' "pid of the memfs mount in perfuse list"
assert_eq "" "$(pf_ok ls "$M")" "perfuse ls of the new, empty memfs"

log "put / get a 5 MiB random file"
rand_file "$T/rand" $((5 * 1024 * 1024))
pf_ok put "$T/rand" "$M/rand"
pf_ok get "$M/rand" "$T/rand.back"
assert_file_eq "$T/rand" "$T/rand.back" "put then get of a 5 MiB file"
pf_ok cat "$M/rand" >"$T/rand.cat"
assert_file_eq "$T/rand" "$T/rand.cat" "perfuse cat of the 5 MiB file"
assert_match "$(pf_ok stat "$M/rand")" 'Size: 5242880' "perfuse stat $M/rand"
# Overwrite with a smaller file: put must truncate.
printf 'short\n' >"$T/short"
pf_ok put "$T/short" "$M/rand"
pf_ok cat "$M/rand" >"$T/rand.cat"
assert_file_eq "$T/short" "$T/rand.cat" "put over an existing, larger file"
pf_ok put "$T/rand" "$M/rand"

log "mkdir -p, mkdir -m"
pf_ok mkdir -p "$M/a/b/c"
pf_ok mkdir -p "$M/a/b/c"   # exists already: not an error with -p
assert_eq b "$(pf_ok ls "$M/a")" "perfuse ls $M/a"
assert_eq c "$(pf_ok ls "$M/a/b")" "perfuse ls $M/a/b"
assert_contains "$(pf_ok stat "$M/a/b/c")" directory "perfuse stat $M/a/b/c"
pf_ok mkdir -m 700 "$M/priv"
assert_match "$(pf_ok ls -l -d "$M/priv")" '^drwx------ ' "perfuse ls -l -d $M/priv"
expect_fail 1 pf mkdir "$M/priv"
expect_fail 1 pf mkdir "$M/no/such/parent"

log "touch"
pf_ok touch "$M/a/t"
pf_ok cat "$M/a/t" >"$T/t.out"
[ ! -s "$T/t.out" ] || fail "a touched new file is not empty"
pf_ok touch "$M/a/t"        # exists already: only the times change

log "truncate"
pf_ok truncate -s 1000 "$M/a/t"
pf_ok cat "$M/a/t" >"$T/t.out"
head -c 1000 /dev/zero >"$T/zero1000"
assert_file_eq "$T/zero1000" "$T/t.out" "perfuse truncate -s 1000 of an empty file"
cp "$T/rand" "$T/rand.exp"
truncate -s 100000 "$T/rand.exp"
pf_ok truncate -s 100000 "$M/rand"
pf_ok cat "$M/rand" >"$T/rand.cat"
assert_file_eq "$T/rand.exp" "$T/rand.cat" "perfuse truncate -s 100000 $M/rand"
pf_ok truncate -s 0 "$M/rand"
assert_match "$(pf_ok stat "$M/rand")" 'Size: 0([^0-9]|$)' "size after truncate -s 0"

log "mv"
printf 'moving data\n' >"$T/mv.txt"
pf_ok put "$T/mv.txt" "$M/a/t"
pf_ok mv "$M/a/t" "$M/a/t2"
expect_fail 1 pf stat "$M/a/t"
pf_ok cat "$M/a/t2" >"$T/t.out"
assert_file_eq "$T/mv.txt" "$T/t.out" "content after mv"
pf_ok mv "$M/a/t2" "$M/priv/t3"        # across directories
pf_ok mv "$M/priv/t3" "$M/a/t2"
pf_ok put "$T/short" "$M/a/victim"
pf_ok mv "$M/a/t2" "$M/a/victim"        # over an existing file
pf_ok cat "$M/a/victim" >"$T/t.out"
assert_file_eq "$T/mv.txt" "$T/t.out" "content after mv over an existing file"
pf_ok mv "$M/a/victim" "$M/a/t2"
assert_eq "$(printf 'b\nt2')" "$(pf_ok ls "$M/a")" "perfuse ls $M/a after mv"

log "ln (hard link)"
pf_ok ln "$M/a/t2" "$M/a/hard"
pf_ok cat "$M/a/hard" >"$T/t.out"
assert_file_eq "$T/mv.txt" "$T/t.out" "content through the hard link"
assert_match "$(pf_ok stat "$M/a/t2")" 'Links: 2' "link count after ln"

log "ln -s, readlink"
pf_ok ln -s t2 "$M/a/sym"
assert_eq t2 "$(pf_ok readlink "$M/a/sym")" "perfuse readlink $M/a/sym"
assert_contains "$(pf_ok stat "$M/a/sym")" "symbolic link" "perfuse stat $M/a/sym"
pf_ok cat "$M/a/sym" >"$T/t.out"
assert_file_eq "$T/mv.txt" "$T/t.out" "perfuse cat through a symlink"

log "chmod"
pf_ok chmod 640 "$M/a/t2"
assert_match "$(pf_ok ls -l "$M/a/t2")" '^-rw-r----- ' "perfuse ls -l after chmod 640"
pf_ok chmod 755 "$M/a/t2"
assert_contains "$(pf_ok stat "$M/a/t2")" "0755/-rwxr-xr-x" "perfuse stat after chmod 755"

log "chown to our own uid"
uid=$(id -u)
gid=$(id -g)
pf_ok chown "$uid:$gid" "$M/a/t2"
pf_ok chown "$uid" "$M/a/t2"
assert_match "$(pf_ok stat "$M/a/t2")" "Uid: \\( *$uid/" "perfuse stat after chown"

log "xattr set / get / list / rm"
pf_ok xattr set "$M/a/t2" user.color blue
pf_ok xattr set "$M/a/t2" user.shape round
assert_eq blue "$(pf_ok xattr get "$M/a/t2" user.color)" "perfuse xattr get user.color"
got=$(pf_ok xattr list "$M/a/t2")
assert_contains "$got" user.color "perfuse xattr list"
assert_contains "$got" user.shape "perfuse xattr list"
pf_ok xattr rm "$M/a/t2" user.color
got=$(pf_ok xattr list "$M/a/t2")
assert_not_contains "$got" user.color "perfuse xattr list after rm"
assert_contains "$got" user.shape "perfuse xattr list after rm"
expect_fail 1 pf xattr get "$M/a/t2" user.color

log "put -r / get -r of a tree"
mkdir -p "$T/tree/x/y"
printf 'one\n' >"$T/tree/one"
rand_file "$T/tree/x/y/blob" 300000
ln -s ../one "$T/tree/x/lnk"
pf_ok put -r "$T/tree" "$M/tree"
pf_ok get -r "$M/tree" "$T/tree.back"
if ! diff -r --no-dereference "$T/tree" "$T/tree.back" >"$T/diff.out" 2>&1; then
	head -n 40 "$T/diff.out" >&2
	fail "put -r then get -r: the trees differ"
fi

log "rm, rm -f, rm -r, rmdir"
pf_ok rm "$M/a/hard"
expect_fail 1 pf stat "$M/a/hard"
pf_ok cat "$M/a/t2" >/dev/null           # the other name still works
expect_fail 1 pf rm "$M/a/nonexistent"
pf_ok rm -f "$M/a/nonexistent"
expect_fail 1 pf rm "$M/a"               # a directory without -r
expect_fail 1 pf rmdir "$M/a"            # not empty
pf_ok rm -r "$M/a"
expect_fail 1 pf stat "$M/a"
pf_ok rm -r "$M/tree"
pf_ok rmdir "$M/priv"
pf_ok rm "$M/rand"
assert_eq "" "$(pf_ok ls -a "$M" | grep -vxE '\.|\.\.' || true)" \
    "perfuse ls -a of the emptied memfs"

log "umount and the filesystem's report"
pf_ok umount "$M"
wait_gone "$pid" 15 || fail "memfs (pid $pid) still runs after umount"
[ -f "$REP" ] || fail "memfs wrote no report at DESTROY ($REP)"
cat "$REP"
rep=$(cat "$REP")
assert_match "$rep" '^destroyed=1$' "memfs report (DESTROY received)"
assert_match "$rep" '^outstanding=0$' "memfs report (lookup references not forgotten)"
assert_match "$rep" '^bad_forgets=0$' "memfs report (FORGETs of unknown or over-forgotten nodes)"
lookups=$(sed -n 's/^lookups=//p' <<<"$rep")
forgets=$(sed -n 's/^forgets=//p' <<<"$rep")
[ -n "$lookups" ] && [ "$lookups" -gt 0 ] ||
    fail "memfs report: lookups=$lookups, expected a positive count"
[ -n "$forgets" ] && [ "$forgets" -gt 0 ] ||
    fail "memfs report: forgets=$forgets, expected a positive count"
assert_eq "" "$(pf_ok list)" "perfuse list after umount"

assert_perfused_alive
log "ok"
