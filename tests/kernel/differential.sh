#!/usr/bin/env bash
# tests/kernel/differential.sh - the kernel front-end against kernel FUSE.
#
# For memfs, bindfs over a tmpfs directory and fuse2fs on a fresh ext4
# image: the same filesystem is mounted (a) directly on kernel FUSE and (b)
# through perfused's kernel front-end ("perfuse mount -- FS ... DIR"), and
# tests/kernel/diffops runs the same sequence of operations on each; its
# outputs must be identical.  While (b) is mounted, the kernel mount and
# perfuse's own path API must see each other's changes at once; then the
# mount must end every way a user ends it: umount(8) (perfused notices,
# DESTROYs the filesystem, which exits; memfs reports no reference left),
# "perfuse umount", fusermount3 -u, and the filesystem being killed under a
# reader that is waiting for it (the reader gets ENOTCONN or EIO, nothing is
# left in D state, the mount is gone).
#
# Needs root and a usable /dev/fuse (tests/run.sh runs it only then), and
# BUILD as for tests/lib.sh.  The test runs in a mount and pid namespace of
# its own: mount namespaces that others create meanwhile (tests/nsrun.sh of
# a concurrent run, say) then do not get copies of its FUSE mounts (a copy
# keeps a FUSE connection alive after umount(8) here, so the "user's
# umount" would not end it), and whatever happens, its mounts and
# processes end with it.  PERFUSE_KEEP=1 keeps $T with the outputs.

if [ "${PERFUSE_KERNEL_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "differential: needs root" >&2
		exit 1
	fi
	# Not exec'd as the namespace's init (pid 1 ignores the signals it
	# has no handler for): a shell waits for it.
	exec unshare --mount --propagation private --pid --fork --kill-child \
	    --mount-proc env PERFUSE_KERNEL_NS=1 \
	    bash -c 'bash "$@"; exit $?' differential-ns "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"
asan_allow_shim

DIFFOPS=$BUILD/tests/kernel/diffops
[ -x "$DIFFOPS" ] || fail "$DIFFOPS is missing: build first (make)"
for prog in bindfs fuse2fs fusermount3 mkfs.ext4 getfattr setfattr; do
	command -v "$prog" >/dev/null || fail "$prog is missing (make deps)"
done
(exec 3<>/dev/fuse) 2>/dev/null || fail "/dev/fuse cannot be opened"

COMPARED=0          # diffops lines compared, over all filesystems
DIFFERENT=0         # of which differed
DIRECT_PID=         # a filesystem we mounted directly
READER_PID=         # the reader of kill_under_reader

# check_eq EXPECTED ACTUAL WHAT: a deferred failure when they differ, so
# that every check of the test still runs.
check_eq() {
	if [ "$1" != "$2" ]; then
		defer_fail "$3: got '$(printf '%s' "$2" | head -c 300 | tr '\n' '|')'," \
		    "expected '$(printf '%s' "$1" | head -c 300 | tr '\n' '|')'"
	fi
}

# ---------------------------------------------------------------------------
# Mount helpers

# fstype_of DIR: the file-system type of the mount on DIR, empty if none.
fstype_of() {
	awk -v d="$1" '$5 == d {
		for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break }
	} END { print t }' /proc/self/mountinfo
}

is_mounted() {
	[ -n "$(fstype_of "$1")" ]
}

# wait_mounted DIR [SECONDS]
wait_mounted() {
	local n=$(( ${2:-10} * 10 ))
	until is_mounted "$1"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# wait_unmounted DIR [SECONDS]
wait_unmounted() {
	local n=$(( ${2:-10} * 10 ))
	while is_mounted "$1"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# Whatever happens, no mount is left behind (the namespace would take them
# with it too, but a clean end is checked, not assumed).
kernel_cleanup() {
	local d pid
	for d in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
	    sort -r); do
		case $(fstype_of "$d") in
		fuse*) fusermount3 -u -z "$d" 2>/dev/null || umount -l "$d" 2>/dev/null;;
		*) umount -l "$d" 2>/dev/null;;
		esac
	done
	for pid in "$DIRECT_PID" "$READER_PID"; do
		if [ -n "$pid" ] && pid_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	return 0
}

_kernel_exit() {
	local rc=$?
	set +e
	kernel_cleanup
	(exit "$rc")
	_lib_exit
}
trap _kernel_exit EXIT

# start_direct DIR CMD...: a filesystem run in the foreground (-f) by us,
# mounted by itself on kernel FUSE at DIR.
start_direct() {
	local dir=$1
	shift
	"$@" >"$T/direct.log" 2>&1 </dev/null &
	DIRECT_PID=$!
	if ! wait_mounted "$dir" 15; then
		show "$* output" "$T/direct.log"
		fail "$*: $dir did not become a mount within 15 s"
	fi
}

stop_direct() {
	local dir=$1
	fusermount3 -u "$dir" 2>"$T/fusermount.err" || {
		show "fusermount3 -u $dir" "$T/fusermount.err"
		fail "fusermount3 -u $dir failed (direct mount)"
	}
	wait_gone "$DIRECT_PID" 10 ||
	    fail "the directly mounted filesystem (pid $DIRECT_PID) did not exit after fusermount3 -u"
	wait "$DIRECT_PID" 2>/dev/null || true
	DIRECT_PID=
}

# run_diffops DIR OUT: the sequence, into OUT (and OUT.err).
run_diffops() {
	local rc=0
	timeout -k 5 300 "$DIFFOPS" "$1" >"$2" 2>"$2.err" </dev/null || rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 20 "$2" >"$2.tail"
		show "diffops $1 stdout (end)" "$2.tail"
		show "diffops $1 stderr" "$2.err"
		fail "diffops $1: exit status $rc"
	fi
	[ -s "$2" ] || fail "diffops $1 printed nothing"
}

# mount_line DIR: what mountinfo says of the mount on DIR: type, source,
# mount options and superblock options.
mount_line() {
	awk -v d="$1" '$5 == d {
		for (i = 7; i <= NF; i++) if ($i == "-") break
		print "type=" $(i + 1) " source=" $(i + 2) " opts=" $6 " super=" $(i + 3)
	}' /proc/self/mountinfo
}

# compare FS A B: every line the same.
compare() {
	local fs=$1 a=$2 b=$3 na nb
	na=$(wc -l <"$a")
	nb=$(wc -l <"$b")
	COMPARED=$((COMPARED + na))
	if diff "$a" "$b" >"$T/$fs.diff"; then
		log "$fs: $na operations, the same directly and through perfused"
		return 0
	fi
	local nd
	nd=$(grep -c '^>' "$T/$fs.diff" || true)
	DIFFERENT=$((DIFFERENT + nd))
	echo "--- $fs: diffops directly on kernel FUSE (<) and through perfused (>):" >&2
	sed 's/^/  /' "$T/$fs.diff" >&2
	defer_fail "$fs: $nd of $na diffops lines differ between the direct mount" \
	    "and the mount through perfused ($na and $nb lines)"
}

# fs_pid FS DIR: FS_PID, the process serving DIR through perfused, which must be
# the pid "perfuse list" gives.  memfs gets /dev/fd/N as its mountpoint
# (attach=fd), the libfuse2 ones keep DIR on their command line.
fs_pid() {
	local pid
	if [ "$1" = memfs ]; then
		assert_listed "$2" "$1"
	else
		pid=$(serving_pid "$2" "$1")
		assert_listed "$2" "$1" "$pid"
	fi
	FS_PID=$LISTED_PID
}

# perfuse_pid TARGET: the pid "perfuse list" gives for TARGET.
perfuse_pid() {
	mount_field "$1" 3
}

# procs_in_D: the processes that wait in FUSE in uninterruptible sleep (D)
# and still do after a second: "PID COMM" lines.  Any process may be in D
# for a moment (a kworker writing back, a process exiting while its files
# are flushed, on a busy CI machine), so only those whose kernel stack is in
# fuse, seen twice a second apart, count.
procs_in_D() {
	local p st first="" pid
	for p in /proc/[0-9]*; do
		st=$(sed 's/.*) //' "$p/stat" 2>/dev/null | cut -d' ' -f1) || continue
		[ "$st" = D ] || continue
		grep -q fuse "$p/stack" 2>/dev/null || continue
		first="$first ${p#/proc/}"
	done
	[ -n "$first" ] || return 0
	sleep 1
	for pid in $first; do
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || continue
		[ "$st" = D ] && grep -q fuse "/proc/$pid/stack" 2>/dev/null &&
		    echo "$pid $(cat "/proc/$pid/comm" 2>/dev/null)"
	done
	return 0
}

# ---------------------------------------------------------------------------
# Checks while mounted through perfused

# cross_checks FS DIR: the kernel mount and the path API see each other.
cross_checks() {
	local fs=$1 d=$2 got
	printf 'first\n' >"$T/v1"
	printf 'second version, longer than the first\n' >"$T/v2"
	: >"$T/empty"

	log "$fs: perfuse list and the kernel mount"
	assert_listed "$d" "$fs"
	case $(fstype_of "$d") in
	fuse | fuse.*) ;;
	*) defer_fail "$fs: $d has type '$(fstype_of "$d")' in mountinfo, expected fuse or fuse.SUBTYPE";;
	esac

	log "$fs: changes through perfuse are seen through the kernel at once"
	pf_ok put "$T/v1" "$d/pc.txt"
	check_eq "first" "$(cat "$d/pc.txt")" "$fs: kernel read of a file put by perfuse"
	stat "$d/pc.txt" >/dev/null   # the kernel now caches its attributes
	pf_ok put "$T/v2" "$d/pc.txt"
	got=$(cat "$d/pc.txt" 2>&1) || true
	check_eq "$(cat "$T/v2")" "$got" "$fs: cat through the kernel right after perfuse put over a file the kernel had read"
	# Longer, then empty: an OPEN with O_TRUNC and no write.
	stat "$d/pc.txt" >/dev/null
	pf_ok put "$T/empty" "$d/pc.txt"
	got=$(stat -c %s "$d/pc.txt")
	check_eq 0 "$got" "$fs: size by stat(1) through the kernel right after perfuse put of an empty file over a $(stat -c %s "$T/v2")-byte one (perfuse stat: $(pf stat "$d/pc.txt" 2>&1 | grep -o 'Size: [0-9]*'))"
	pf_ok put "$T/v1" "$d/pc.txt"
	# Appending through the kernel right after perfuse made the file
	# longer (the kernel made it, so its entry is fresh).
	printf 'first\n' >"$d/ap.txt"
	pf_ok put "$T/v2" "$d/ap.txt"
	printf 'appended\n' >>"$d/ap.txt"
	got=$(pf_ok cat "$d/ap.txt")
	check_eq "$(cat "$T/v2"; echo appended)" "$got" \
	    "$fs: content after an append (>>) through the kernel right after perfuse put made the file longer"
	rm -f "$d/ap.txt"
	# A name the kernel knows is missing (a negative entry), then made.
	[ ! -e "$d/newname" ] || defer_fail "$fs: $d/newname exists already"
	pf_ok put "$T/v1" "$d/newname"
	if ! got=$(cat "$d/newname" 2>&1); then
		defer_fail "$fs: a file perfuse put where the kernel had just looked" \
		    "the name up in vain is not found through the kernel: $got"
	fi
	pf_ok rm "$d/newname"
	[ ! -e "$d/newname" ] || defer_fail "$fs: removed by perfuse rm, $d/newname" \
	    "still exists through the kernel"
	pf_ok mv "$d/pc.txt" "$d/pc2.txt"
	[ ! -e "$d/pc.txt" ] || defer_fail "$fs: renamed by perfuse mv, $d/pc.txt" \
	    "still exists through the kernel"
	[ -e "$d/pc2.txt" ] || defer_fail "$fs: renamed by perfuse mv, $d/pc2.txt" \
	    "is not found through the kernel"
	stat -c %a "$d/pc2.txt" >/dev/null
	pf_ok chmod 600 "$d/pc2.txt"
	check_eq 600 "$(stat -c %a "$d/pc2.txt")" "$fs: mode through the kernel after perfuse chmod"
	pf_ok truncate -s 3 "$d/pc2.txt"
	check_eq 3 "$(stat -c %s "$d/pc2.txt")" "$fs: size through the kernel after perfuse truncate"
	check_eq fir "$(cat "$d/pc2.txt")" "$fs: content through the kernel after perfuse truncate"
	ls "$d" >/dev/null
	pf_ok mkdir "$d/pdir"
	[ -d "$d/pdir" ] || defer_fail "$fs: perfuse mkdir $d/pdir: not a directory through the kernel"
	case $'\n'"$(ls "$d")"$'\n' in
	*$'\n'pdir$'\n'*) ;;
	*) defer_fail "$fs: ls through the kernel after perfuse mkdir: no pdir";;
	esac
	pf_ok ln -s pc2.txt "$d/plink"
	check_eq pc2.txt "$(readlink "$d/plink" 2>&1)" "$fs: readlink through the kernel of perfuse ln -s"
	getfattr --absolute-names -d "$d/pc2.txt" >/dev/null 2>&1 || true
	pf_ok xattr set "$d/pc2.txt" user.via perfuse
	got=$(getfattr --absolute-names --only-values -n user.via "$d/pc2.txt" 2>&1) || true
	check_eq perfuse "$got" "$fs: getfattr through the kernel of an xattr perfuse set"

	log "$fs: changes through the kernel are seen by perfuse"
	printf 'kernel write\n' >"$d/kw.txt"
	check_eq "kernel write" "$(pf_ok cat "$d/kw.txt")" "$fs: perfuse cat of a file written through the kernel"
	rand_file "$T/big" $((3 * 1024 * 1024 + 17))
	cp "$T/big" "$d/big.bin"
	pf_ok cat "$d/big.bin" >"$T/big.back"
	assert_file_eq "$T/big" "$T/big.back" "$fs: perfuse cat of 3 MiB written through the kernel"
	pf_ok cat "$d/big.bin" >/dev/null
	printf 'overwritten\n' >"$d/big.bin"
	check_eq overwritten "$(pf_ok cat "$d/big.bin")" "$fs: perfuse cat after an overwrite through the kernel"
	mkdir "$d/kdir"
	setfattr -n user.k -v kernel "$d/kw.txt"
	check_eq kernel "$(pf_ok xattr get "$d/kw.txt" user.k)" "$fs: perfuse xattr get of an xattr set through the kernel"
	assert_contains "$(pf_ok ls "$d")" kdir "$fs: perfuse ls after mkdir through the kernel"
	rm -r "$d/kw.txt" "$d/kdir" "$d/big.bin" "$d/pdir" "$d/plink" "$d/pc2.txt"
	assert_not_contains "$(pf_ok ls "$d")" kw.txt "$fs: perfuse ls after rm through the kernel"
}

# end_by_umount FS DIR PID [REPORT]: the user's umount(8) ends the mount.
end_by_umount() {
	local fs=$1 d=$2 pid=$3 report=${4:-} n=100
	log "$fs: umount $d (the user's)"
	umount "$d" 2>"$T/umount.err" || {
		show "umount $d" "$T/umount.err"
		fail "$fs: umount $d failed"
	}
	while [ -n "$(perfuse_pid "$d")" ] && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ -z "$(perfuse_pid "$d")" ] ||
	    fail "$fs: 10 s after umount $d, perfuse list still shows it"
	wait_gone "$pid" 15 || fail "$fs: the filesystem (pid $pid) still runs 15 s after umount $d"
	is_mounted "$d" && fail "$fs: $d is still mounted after umount"
	[ -z "$report" ] || check_report "$fs after umount" "$report"
}

# check_report WHAT FILE: memfs's books at its end.
check_report() {
	local what=$1 f=$2 n=50
	while [ ! -s "$f" ] && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ -s "$f" ] || { defer_fail "$what: memfs wrote no report ($f)"; return 0; }
	assert_contains "$(cat "$f")" "destroyed=1" "$what: memfs report"
	assert_contains "$(cat "$f")" "outstanding=0" "$what: memfs report"
	assert_contains "$(cat "$f")" "bad_forgets=0" "$what: memfs report"
}

# kill_under_reader FS DIR PID: the filesystem dies (SIGKILL) while a
# process waits for it in a read.
kill_under_reader() {
	local fs=$1 d=$2 pid=$3 rpid n out stuck
	log "$fs: SIGKILL to the filesystem under a waiting reader"
	rand_file "$T/victim" 300000
	pf_ok put "$T/victim" "$d/victim"
	rm -f "$T/cue"
	mkfifo "$T/cue"
	exec 7<>"$T/cue"
	"$DIFFOPS" --read-on-cue "$d/victim" <&7 >"$T/reader.out" 2>&1 &
	rpid=$!
	READER_PID=$rpid
	n=100
	until grep -q '^open:' "$T/reader.out" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$fs: the reader did not open $d/victim within 10 s"
		sleep 0.1
	done
	assert_eq "open: 0" "$(cat "$T/reader.out")" "$fs: reader's open"
	kill -STOP "$pid"
	echo go >&7
	sleep 1
	pid_alive "$rpid" || { show "reader" "$T/reader.out"
		fail "$fs: the reader did not wait for the stopped filesystem"; }
	kill -KILL "$pid"
	n=150
	while pid_alive "$rpid" && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if pid_alive "$rpid"; then
		stuck=$(procs_in_D)
		defer_fail "$fs: the reader still waits 15 s after the filesystem was" \
		    "killed (state $(sed 's/.*) //' /proc/$rpid/stat | cut -d' ' -f1);" \
		    "in D: ${stuck:-none})"
		kill -KILL "$rpid" 2>/dev/null || true
	fi
	wait "$rpid" 2>/dev/null || true
	READER_PID=
	exec 7>&-
	out=$(grep '^read:' "$T/reader.out" || true)
	case $out in
	"read: ERR ENOTCONN" | "read: ERR EIO") ;;
	*) show "reader" "$T/reader.out"
	   defer_fail "$fs: the read on a killed filesystem gave '$out', expected" \
	       "'read: ERR ENOTCONN' or 'read: ERR EIO'";;
	esac
	stuck=$(procs_in_D)
	[ -z "$stuck" ] || defer_fail "$fs: processes in D state after the kill: $stuck"
	wait_unmounted "$d" 10 ||
	    defer_fail "$fs: $d is still in /proc/self/mountinfo 10 s after the filesystem was killed"
	n=100
	while [ -n "$(perfuse_pid "$d")" ] && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ -z "$(perfuse_pid "$d")" ] ||
	    defer_fail "$fs: perfuse list still shows $d 10 s after its filesystem was killed"
	assert_perfused_alive
}

# ---------------------------------------------------------------------------
# The filesystems

mkdir -p "$T/tmpfs"
mount -t tmpfs -o size=256m,mode=0755 perfuse-differential "$T/tmpfs" ||
    fail "cannot mount a tmpfs on $T/tmpfs"

# memfs
log "memfs: directly on kernel FUSE"
D1=$T/memfs.direct D2=$T/memfs.perfuse
mkdir -p "$D1" "$D2"
start_direct "$D1" "$MEMFS" -f "$D1"
log "memfs: mounted directly: $(mount_line "$D1")"
run_diffops "$D1" "$T/memfs.a"
stop_direct "$D1"

log "memfs: through perfused"
pf_ok mount -- "$MEMFS" --report="$T/memfs.report" "$D2"
log "memfs: mounted through perfused: $(mount_line "$D2")"
assert_eq fuse.memfs "$(fstype_of "$D2")" "memfs: type of the kernel mount"
run_diffops "$D2" "$T/memfs.b"
compare memfs "$T/memfs.a" "$T/memfs.b"
cross_checks memfs "$D2"
fs_pid memfs "$D2"
end_by_umount memfs "$D2" "$FS_PID" "$T/memfs.report"

log "memfs: perfuse umount"
rm -f "$T/memfs.report"
pf_ok mount -- "$MEMFS" --report="$T/memfs.report" "$D2"
wait_mounted "$D2" 5 || fail "memfs: $D2 not mounted on the kernel after perfuse mount"
fs_pid memfs "$D2"
pid=$FS_PID
printf 'x\n' >"$D2/file"
cat "$D2/file" >/dev/null
pf_ok umount "$D2"
assert_ended "memfs (perfuse umount)" "$pid"
is_mounted "$D2" && defer_fail "memfs: $D2 still mounted on the kernel after perfuse umount"
[ -z "$(perfuse_pid "$D2")" ] || defer_fail "memfs: perfuse list shows $D2 after perfuse umount"
check_report "memfs after perfuse umount" "$T/memfs.report"

log "memfs: fusermount3 -u"
rm -f "$T/memfs.report"
pf_ok mount -- "$MEMFS" --report="$T/memfs.report" "$D2"
fs_pid memfs "$D2"
pid=$FS_PID
ls -la "$D2" >/dev/null
fusermount3 -u "$D2" 2>"$T/fm.err" || { show "fusermount3 -u" "$T/fm.err"; fail "memfs: fusermount3 -u $D2 failed"; }
n=100
while [ -n "$(perfuse_pid "$D2")" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
[ -z "$(perfuse_pid "$D2")" ] || defer_fail "memfs: perfuse list shows $D2 10 s after fusermount3 -u"
wait_gone "$pid" 15 || defer_fail "memfs: the filesystem still runs 15 s after fusermount3 -u"
check_report "memfs after fusermount3 -u" "$T/memfs.report"

pf_ok mount -- "$MEMFS" "$D2"
fs_pid memfs "$D2"
kill_under_reader memfs "$D2" "$FS_PID"

# bindfs over a tmpfs directory
log "bindfs: directly on kernel FUSE"
S1=$T/tmpfs/bindfs.src1 S2=$T/tmpfs/bindfs.src2
D1=$T/bindfs.direct D2=$T/bindfs.perfuse
mkdir -p "$S1" "$S2" "$D1" "$D2"
start_direct "$D1" bindfs -f "$S1" "$D1"
log "bindfs: mounted directly: $(mount_line "$D1")"
run_diffops "$D1" "$T/bindfs.a"
stop_direct "$D1"

log "bindfs: through perfused"
pf_ok mount -- bindfs "$S2" "$D2"
wait_mounted "$D2" 5 || fail "bindfs: $D2 not mounted on the kernel after perfuse mount"
log "bindfs: mounted through perfused: $(mount_line "$D2")"
run_diffops "$D2" "$T/bindfs.b"
compare bindfs "$T/bindfs.a" "$T/bindfs.b"
cross_checks bindfs "$D2"
fs_pid bindfs "$D2"
end_by_umount bindfs "$D2" "$FS_PID"
pf_ok mount -- bindfs "$S2" "$D2"
fs_pid bindfs "$D2"
kill_under_reader bindfs "$D2" "$FS_PID"

# fuse2fs on ext4 images made alike.  diffops leaves them with errors
# (fuse2fs takes a 256-byte name in a rename and wraps its length to 0 in
# the directory block, directly and through perfused alike) and fuse2fs
# then refuses writes and mounts: what follows diffops runs on a third
# copy of the fresh image.
log "fuse2fs: directly on kernel FUSE"
I1=$T/ext4.direct.img I2=$T/ext4.perfuse.img I3=$T/ext4.checks.img
D1=$T/fuse2fs.direct D2=$T/fuse2fs.perfuse
mkdir -p "$D1" "$D2"
mkfs.ext4 -q -F -b 4096 -O ^has_journal "$I1" 256M >"$T/mkfs.out" 2>&1 || {
	show mkfs.ext4 "$T/mkfs.out"
	fail "mkfs.ext4 $I1 failed"
}
cp "$I1" "$I2"   # the very same image for both
cp "$I1" "$I3"
start_direct "$D1" fuse2fs "$I1" "$D1" -f -o fakeroot
log "fuse2fs: mounted directly: $(mount_line "$D1")"
run_diffops "$D1" "$T/fuse2fs.a"
stop_direct "$D1"

log "fuse2fs: through perfused"
pf_ok mount -- fuse2fs "$I2" "$D2" -o fakeroot
wait_mounted "$D2" 5 || fail "fuse2fs: $D2 not mounted on the kernel after perfuse mount"
log "fuse2fs: mounted through perfused: $(mount_line "$D2")"
run_diffops "$D2" "$T/fuse2fs.b"
compare fuse2fs "$T/fuse2fs.a" "$T/fuse2fs.b"
fs_pid fuse2fs "$D2"
end_by_umount fuse2fs "$D2" "$FS_PID"

log "fuse2fs: a fresh image for the other checks"
pf_ok mount -- fuse2fs "$I3" "$D2" -o fakeroot
wait_mounted "$D2" 5 || fail "fuse2fs: $D2 not mounted on the kernel after perfuse mount"
cross_checks fuse2fs "$D2"
fs_pid fuse2fs "$D2"
end_by_umount fuse2fs "$D2" "$FS_PID"
e2fsck -fn "$I3" >"$T/e2fsck.out" 2>&1 || {
	show "e2fsck -fn" "$T/e2fsck.out"
	defer_fail "fuse2fs: the image is not clean after the checks through perfused and umount"
}
pf_ok mount -- fuse2fs "$I3" "$D2" -o fakeroot
fs_pid fuse2fs "$D2"
kill_under_reader fuse2fs "$D2" "$FS_PID"

umount "$T/tmpfs" 2>/dev/null || umount -l "$T/tmpfs"
log "compared $COMPARED diffops lines over 3 filesystems; $DIFFERENT differ"
[ -z "$(awk -v t="$T/" 'index($5, t) == 1' /proc/self/mountinfo)" ] ||
    defer_fail "mounts left under $T: $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | tr '\n' ' ')"
fail_deferred
