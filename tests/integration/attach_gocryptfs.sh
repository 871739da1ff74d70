#!/usr/bin/env bash
# gocryptfs (Go, go-fuse: no libfuse, and LD_PRELOAD does not reach Go's
# system calls) mounts by running fusermount3 from PATH with _FUSE_COMMFD;
# perfused puts its stand-ins first on that PATH.  With auto (which picks
# preload for a program without libfuse3) and with --attach=fusermount:
# write files, check the cipher directory holds only ciphertext, umount,
# remount and read everything back byte for byte, including what the other
# method wrote.
. "$(dirname "$0")/../lib.sh"
asan_allow_shim

C=$T/cipher
DATA=$T/data
mkdir -p "$C" "$DATA"

log "gocryptfs -init"
gocryptfs -init -q -extpass 'echo pw' "$C" >"$T/init.out" 2>&1 || {
	cat "$T/init.out" >&2
	fail "gocryptfs -init failed"
}

# mount_go METHOD: mount the cipher directory on M; sets pid.
mount_go() {
	if [ "$1" = auto ]; then
		pf_ok mount -- gocryptfs -extpass 'echo pw' "$C" "$M"
		assert_attach "$M" preload
	else
		pf_ok mount --attach="$1" -- gocryptfs -extpass 'echo pw' "$C" "$M"
		assert_attach "$M" "$1"
	fi
	pid=$(serving_pid "$M" "gocryptfs ($1)")
	assert_listed "$M" gocryptfs "$pid"
}

# umount_go WHAT: umount M; gocryptfs (and its logger) must go.
umount_go() {
	pf_ok umount "$M"
	assert_ended "gocryptfs ($1)" "$pid"
	assert_eq "" "$(pf_ok list)" "perfuse list after umount ($1)"
	wait_gone_all "$1"
}

# go_procs: gocryptfs processes and the syslog loggers they start.
go_procs() {
	pgrep -x gocryptfs || true
	pgrep -f '^logger -t gocryptfs-' || true
}

# wait_gone_all WHAT: no gocryptfs process at all is left, within 10 s.
wait_gone_all() {
	local n=100
	while [ -n "$(go_procs)" ]; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			ps -o pid,args -p "$(go_procs | paste -sd,)" >&2 || true
			fail "gocryptfs processes left 10 s after umount ($1)"
		fi
		sleep 0.1
	done
}

# check_files WHAT NAME...: each DATA/NAME reads back the same from M.
check_files() {
	local what=$1 f
	shift
	for f in "$@"; do
		pf_ok cat "$M/$f" >"$T/cat.out"
		assert_file_eq "$DATA/$f" "$T/cat.out" "perfuse cat $M/$f ($what)"
	done
}

rand_file "$DATA/auto-big.bin" $((3 * 1024 * 1024 + 17))
cp "$TESTS_DIR/data/lorem.txt" "$DATA/auto-secret.txt"
rand_file "$DATA/fm-big.bin" $((2 * 1024 * 1024 + 999))
printf 'written through the fusermount method\n' >"$DATA/fm-note.txt"
A_FILES=(auto-big.bin auto-secret.txt)
F_FILES=(fm-big.bin fm-note.txt)

for method in auto fusermount; do
	M=$T/mnt/$method
	mkdir -p "$M"   # go-fuse's fusermount wants an existing mountpoint
	if [ "$method" = auto ]; then mine=("${A_FILES[@]}"); else mine=("${F_FILES[@]}"); fi

	log "$method: mount"
	mount_go "$method"
	if [ "$method" = fusermount ]; then
		log "$method: what auto wrote reads back"
		check_files "$method, written by auto" "${A_FILES[@]}"
	fi

	log "$method: write"
	for f in "${mine[@]}"; do
		pf_ok put "$DATA/$f" "$M/$f"
	done
	pf_ok mkdir "$M/dir-$method"
	pf_ok put "$DATA/${mine[1]}" "$M/dir-$method/copy"
	check_files "$method, just written" "${mine[@]}"
	pf_ok cat "$M/dir-$method/copy" >"$T/cat.out"
	assert_file_eq "$DATA/${mine[1]}" "$T/cat.out" "perfuse cat $M/dir-$method/copy"

	log "$method: the cipher directory holds ciphertext only"
	for f in "${mine[@]}" "dir-$method"; do
		[ -z "$(find "$C" -name "$f")" ] || fail "plaintext name $f in $C"
	done
	while IFS= read -r -d '' cf; do
		for f in "${mine[@]}"; do
			if cmp -s "$cf" "$DATA/$f"; then
				fail "$cf in the cipher directory is the plaintext of $f"
			fi
		done
	done < <(find "$C" -type f -print0)

	log "$method: umount, remount, read back"
	umount_go "$method"
	mount_go "$method"
	check_files "$method, remounted" "${A_FILES[@]}"
	if [ "$method" = fusermount ]; then
		check_files "$method, remounted" "${F_FILES[@]}"
	fi
	pf_ok cat "$M/dir-$method/copy" >"$T/cat.out"
	assert_file_eq "$DATA/${mine[1]}" "$T/cat.out" "perfuse cat $M/dir-$method/copy, remounted"
	umount_go "$method, remounted"
done

assert_perfused_alive
fail_deferred
log "ok"
