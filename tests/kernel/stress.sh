#!/usr/bin/env bash
# tests/kernel/stress.sh - the kernel front-end under load.
#
# memfs (the example filesystem) mounted through perfused with a kernel
# mount ("perfuse mount -- memfs DIR"), then through that mount:
#  1. fio write jobs with --verify=crc32c (sequential and random, 4 KiB and
#     1 MiB blocks, buffered I/O, several jobs at once): no error;
#  2. a short stress-ng run of file-system stressors: exit status 0;
#  3. 8 writer processes through the kernel mount and 2 "perfuse put" at
#     once, each its own random file, then every byte checked with cmp,
#     both through the kernel mount and through "perfuse cat";
# and after "perfuse umount" memfs's report says it was DESTROYed with no
# lookup reference left and no bad FORGET (destroyed=1, outstanding=0,
# bad_forgets=0).
#
# Needs root, a usable /dev/fuse, fio and stress-ng (make deps), and BUILD
# as for tests/lib.sh:   BUILD=build bash tests/kernel/stress.sh
# Runs in a mount and pid namespace of its own, as differential.sh does (a
# copy of the FUSE mount in a namespace someone else creates meanwhile
# would outlive our umount), so whatever happens its mounts and processes
# end with it.  35 to 60 s on two busy cores (85 s with build-asan).
# PERFUSE_KEEP=1 keeps $T (fio's and stress-ng's output).

if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "stress: needs root" >&2
		exit 1
	fi
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' stress-ns "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"
asan_allow_shim

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
for prog in fio stress-ng; do
	command -v "$prog" >/dev/null || fail "$prog is missing (make deps: apt-get install fio stress-ng)"
done
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

M=$T/mnt/mem
REP=$T/report
mkdir -p "$M"

fstype_of() {
	awk -v d="$1" '$5 == d {
		for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break }
	} END { print t }' /proc/self/mountinfo
}

# Whatever happens, no mount and no load generator is left behind (the
# writers of part 3; not perfused, which _lib_exit stops and checks).
BG_PIDS=()
stress_cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	if [ -n "$(fstype_of "$M")" ]; then
		umount -l "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null
	fi
	return 0
}
_stress_exit() {
	local rc=$?
	set +e
	stress_cleanup
	(exit "$rc")
	_lib_exit
}
trap _stress_exit EXIT

log "mount memfs through perfused, with a kernel mount"
pf_ok mount -- "$MEMFS" "$M" --report="$REP" >"$T/mount.out"
case $(fstype_of "$M") in
fuse.*) ;;
*) show "perfuse mount" "$T/mount.out"
   fail "$M is not a kernel FUSE mount after perfuse mount (type '$(fstype_of "$M")')";;
esac
assert_listed "$M" memfs
FS_PID=$LISTED_PID

# ---------------------------------------------------------------------------
# 1. fio, buffered, every block checked with crc32c.  The jobs of a section
# run at once; the sections one after the other.  verify_fatal stops a job
# at its first bad block; fio's status is then non-zero and err= too.
log "fio: sequential and random writes with --verify=crc32c"
mkdir "$M/fio"
cat >"$T/fio.job" <<EOF
[global]
directory=$M/fio
ioengine=psync
direct=0
verify=crc32c
do_verify=1
verify_fatal=1
unlink=1

[seq-1m]
rw=write
bs=1M
size=64M
numjobs=2

[seq-4k]
rw=write
bs=4k
size=16M
numjobs=1

[rand-1m]
stonewall
rw=randwrite
bs=1M
size=64M
numjobs=2

[rand-4k]
rw=randwrite
bs=4k
size=16M
numjobs=2
EOF
rc=0
(cd "$T" && fio --output="$T/fio.out" "$T/fio.job" >"$T/fio.err" 2>&1) || rc=$?  # its verify state files go to $T
if [ "$rc" != 0 ] || grep -q 'err= *[1-9]' "$T/fio.out" ||
    grep -qi 'verify' "$T/fio.err"; then
	show "fio stderr" "$T/fio.err"
	grep -E 'err=|verify|bad' "$T/fio.out" | head -n 40 >&2 || true
	fail "fio through the kernel mount: exit status $rc (see the err= and verify lines above)"
fi
jobs_ok=$(grep -c 'err= 0' "$T/fio.out" || true)
assert_eq 7 "$jobs_ok" "fio jobs ending with err= 0 (2 seq-1m, 1 seq-4k, 2 rand-1m, 2 rand-4k)"
log "fio: $jobs_ok jobs, no error; $(grep -E '^ +(WRITE|READ):' "$T/fio.out" |
    sed 's/^ *//; s/ (.*//' | paste -sd ' ' -)"
left=$(find "$M/fio" -mindepth 1 | head -n 5)
[ -z "$left" ] || fail "fio left files behind: $left"
rmdir "$M/fio"

# ---------------------------------------------------------------------------
# 2. stress-ng (0.15), file-system stressors.  Every stressor of its class
# "filesystem" (45 of them; 1 instance, 3 s) was run on memfs mounted
# directly on kernel FUSE ("memfs DIR", no perfused) and through perfused:
# all exit 0 both ways, none had to be dropped for failing directly (fiemap
# skips itself on FUSE: no FS_IOC_FIEMAP).  Those here are the ones that
# load what a FUSE filesystem does itself (names, directories, data,
# renames, hard and symbolic links, xattrs) rather than the kernel's own
# caches and locks, few enough for the time.  link and symlink make 8192
# names per bogo operation (some 10 s here, directly 5 s) and would finish
# the one they are in after the timeout: one operation each.  xattr completes no bogo operation in the time
# on memfs, directly or not (a round is thousands of setxattr calls; on a
# tmpfs it does a few), but drives setxattr and its kin all the same.
log "stress-ng: file-system stressors, 8 s (link and symlink: one round)"
mkdir "$M/sng"
rc=0
(cd "$M/sng" && exec timeout -k 5 60 stress-ng --temp-path "$M/sng" \
    --dentry 2 --dir 2 --hdd 2 --hdd-bytes 32M --rename 2 --link 1 --link-ops 1 \
    --symlink 1 --symlink-ops 1 \
    --xattr 1 --timeout 8s --metrics-brief) >"$T/stress-ng.out" 2>&1 </dev/null || rc=$?
if [ "$rc" != 0 ] || grep -qE '(fail|error):|FAILED' "$T/stress-ng.out"; then
	show "stress-ng output" "$T/stress-ng.out"
	fail "stress-ng through the kernel mount: exit status $rc"
fi
log "stress-ng: $(grep -o 'successful run completed.*' "$T/stress-ng.out")"
rm -rf "$M/sng"
[ ! -e "$M/sng" ] || fail "rm -rf $M/sng through the kernel mount left it behind"

# ---------------------------------------------------------------------------
# 3. 8 writers through the kernel and 2 through perfuse put, at once.
NK=8 NP=2
log "concurrency: $NK writers through the kernel mount, $NP perfuse put, at once"
mkdir "$M/conc"
bss=(4k 16k 64k 128k 1M 3000 65537 2M)
for ((i = 0; i < NK + NP; i++)); do
	# A few MiB, none a multiple of a page.
	rand_file "$T/src$i" $(( (3 << 20) + i * 123457 + 1 ))
done
pids=()
for ((i = 0; i < NK; i++)); do
	dd if="$T/src$i" of="$M/conc/k$i" bs="${bss[$i]}" status=none \
	    2>"$T/w$i.err" &
	pids+=($!)
	BG_PIDS+=($!)
done
for ((i = NK; i < NK + NP; i++)); do
	"$PERFUSE" put "$T/src$i" "$M/conc/p$i" 2>"$T/w$i.err" &
	pids+=($!)
	BG_PIDS+=($!)
done
bad=0
for ((i = 0; i < NK + NP; i++)); do
	if ! wait "${pids[$i]}"; then
		show "writer $i" "$T/w$i.err"
		bad=1
	fi
done
BG_PIDS=()
[ "$bad" = 0 ] || fail "some of the $((NK + NP)) concurrent writers failed"
names=()
for ((i = 0; i < NK; i++)); do names+=("k$i"); done
for ((i = NK; i < NK + NP; i++)); do names+=("p$i"); done
assert_eq "$(printf '%s\n' "${names[@]}" | sort)" "$(ls "$M/conc")" "ls of $M/conc through the kernel"
assert_eq "$(printf '%s\n' "${names[@]}" | sort)" "$(pf_ok ls "$M/conc")" "perfuse ls $M/conc"
for ((i = 0; i < NK + NP; i++)); do
	f=$M/conc/${names[$i]}
	assert_file_eq "$T/src$i" "$f" "$f read through the kernel mount"
	pf_ok cat "$f" >"$T/back$i"
	assert_file_eq "$T/src$i" "$T/back$i" "perfuse cat $f"
done
log "concurrency: $((NK + NP)) files, $(du -cb "$T"/src* | tail -n 1 | cut -f1) bytes, all checked both ways"
rm -r "$M/conc"

# ---------------------------------------------------------------------------
log "perfuse umount and memfs's report"
pf_ok umount "$M"
assert_ended "memfs" "$FS_PID"
[ -z "$(fstype_of "$M")" ] || fail "$M is still mounted after perfuse umount"
[ -z "$(mount_field "$M" 1)" ] || fail "perfuse list still shows $M after perfuse umount"
[ -f "$REP" ] || fail "memfs wrote no report at DESTROY ($REP)"
rep=$(cat "$REP")
assert_match "$rep" '^destroyed=1$' "memfs report (DESTROY received)"
assert_match "$rep" '^outstanding=0$' "memfs report (lookup references not forgotten)"
assert_match "$rep" '^bad_forgets=0$' "memfs report (FORGETs of unknown or over-forgotten nodes)"
log "memfs report: $(paste -sd ' ' "$REP")"
# For the record, not a failure: perfused's warnings under this load (a
# reply from libfuse to an INTERRUPT whose request was answered already is
# one: "reply with unique ODD nobody asked for").
if grep -q ' warning: ' "$PERFUSED_LOG"; then
	log "perfused's warnings:"
	grep ' warning: ' "$PERFUSED_LOG" | head -n 10 | sed 's/^/   /'
fi
assert_perfused_alive
fail_deferred
log "done"
