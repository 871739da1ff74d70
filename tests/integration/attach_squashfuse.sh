#!/usr/bin/env bash
# squashfuse (libfuse3), unmodified, reaching perfused by each attach
# method: fd (its socket as the mountpoint /dev/fd/N), preload (the
# LD_PRELOAD shim takes open("/dev/fuse") and mount(2)), fusermount
# (libfuse's own fusermount3 fallback, redirected to perfused's stand-in)
# and auto (fd, for a program that links libfuse3).  Each time: perfuse
# list shows the mount, ls and cat/get match the source byte for byte, and
# umount ends the filesystem.
. "$(dirname "$0")/../lib.sh"
asan_allow_shim

SRC=$T/src
IMG=$T/tree.sqfs

log "generate a tree and its image"
mkdir -p "$SRC/sub/deeper" "$SRC/emptydir"
cp "$TESTS_DIR/data/lorem.txt" "$SRC/lorem.txt"
printf 'hello, attach\n' >"$SRC/hello.txt"
printf 'a hidden file\n' >"$SRC/.hidden"
: >"$SRC/empty"
rand_file "$SRC/big.bin" $((3 * 1024 * 1024 + 4097))
rand_file "$SRC/sub/odd.bin" 70001
printf 'leaf\n' >"$SRC/sub/deeper/leaf.txt"
seq 1 5000 >"$SRC/sub/numbers.txt"
ln -s hello.txt "$SRC/link"
ln -s ../lorem.txt "$SRC/sub/up"
make_squashfs "$SRC" "$IMG"

for method in fd preload fusermount auto; do
	M=$T/mnt/$method
	# preload and fusermount: libfuse stats (and realpaths) the mountpoint.
	mkdir -p "$M"

	log "$method: mount"
	if [ "$method" = auto ]; then
		pf_ok mount -- squashfuse "$IMG" "$M"
		want=fd
	else
		pf_ok mount --attach="$method" -- squashfuse "$IMG" "$M"
		want=$method
	fi
	assert_attach "$M" "$want"
	pid=$(serving_pid "$IMG" "squashfuse ($method)")
	args=$(tr '\0' '\n' <"/proc/$pid/cmdline")
	preload=$(proc_env "$pid" LD_PRELOAD)
	if [ "$want" = fd ]; then
		assert_match "$args" '^/dev/fd/[0-9]+$' "arguments of squashfuse ($method)"
		assert_not_contains "$preload" libperfuse_preload "LD_PRELOAD of squashfuse ($method)"
	else
		assert_contains "$args" "$M" "arguments of squashfuse ($method)"
		assert_contains "$preload" libperfuse_preload.so "LD_PRELOAD of squashfuse ($method)"
	fi

	log "$method: perfuse list"
	assert_listed "$M" squashfuse "$pid"

	log "$method: ls"
	assert_eq "$(ls -1 "$SRC")" "$(pf_ok ls "$M")" "perfuse ls $M"
	assert_eq "$(ls -1 -A "$SRC")" "$(pf_ok ls -a "$M" | grep -vxE '\.\.?')" \
	    "perfuse ls -a $M"
	assert_eq "$(ls -1 "$SRC/sub")" "$(pf_ok ls "$M/sub")" "perfuse ls $M/sub"
	assert_eq "" "$(pf_ok ls "$M/emptydir")" "perfuse ls $M/emptydir"
	assert_match "$(pf_ok ls -l "$M/big.bin")" "^-rw-r--r-- .* $((3 * 1024 * 1024 + 4097)) " \
	    "perfuse ls -l $M/big.bin"
	assert_eq hello.txt "$(pf_ok readlink "$M/link")" "perfuse readlink $M/link"

	log "$method: cat and get, byte for byte"
	while IFS= read -r -d '' f; do
		rel=${f#"$SRC"/}
		pf_ok cat "$M/$rel" >"$T/cat.out"
		assert_file_eq "$f" "$T/cat.out" "perfuse cat $M/$rel ($method)"
	done < <(find "$SRC" -type f -print0)
	pf_ok cat "$M/sub/up" >"$T/cat.out"
	assert_file_eq "$SRC/lorem.txt" "$T/cat.out" "perfuse cat through $M/sub/up"
	pf_ok get "$M/big.bin" "$T/big.$method"
	assert_file_eq "$SRC/big.bin" "$T/big.$method" "perfuse get $M/big.bin"
	pf_ok get -r "$M" "$T/copy.$method"
	if ! diff -r --no-dereference "$SRC" "$T/copy.$method" >"$T/diff.out" 2>&1; then
		head -n 40 "$T/diff.out" >&2
		fail "perfuse get -r $M ($method): the copy differs from the source"
	fi
	expect_fail 1 pf cat "$M/no-such-file"
	assert_perfused_alive

	log "$method: umount"
	pf_ok umount "$M"
	assert_ended "squashfuse ($method)" "$pid" "$LISTED_PID"
	assert_eq "" "$(pf_ok list)" "perfuse list after umount ($method)"
	expect_fail 1 pf ls "$M"
	[ -z "$(procs_with_arg "$IMG")" ] || fail "a squashfuse process is left ($method)"
done

assert_perfused_alive
fail_deferred
log "ok"
