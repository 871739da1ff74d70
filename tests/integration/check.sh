#!/usr/bin/env bash
# perfuse check, the conformance battery:
#  - memfs (libfuse3, --attach=fd): no check may fail, every check runs, the
#    INIT checks agree the minor offered (up to memfs's own), and memfs's
#    own books balance afterwards (every reference forgotten, no bad forget);
#    --json gives one valid object per check with the same results;
#  - squashfuse on a small image: no check may fail, the write checks are
#    skipped as read-only;
#  - bindfs and fuse2fs (libfuse2, through a private perfused with the
#    preload shim): every check runs and the INIT checks are skipped; what
#    they get is recorded in the output, not required (see README);
#  - a hostile server (tests/badpeer.c) must fail, a filesystem that does
#    not start must fail, usage errors exit 2.
PERFUSE_LIB_NO_DAEMON=1
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"

# Every check perfuse check reports, in order.
CHECKS="init-7.8 init-7.12 init-7.19 init-7.23 init-7.31 init-7.38 root-getattr
scratch-dir lookup-repeat forget-batch forget-single forget-relookup
readdir-resume readdirplus-resume dot-dotdot errno-enoent errno-enotdir name-255
errno-enametoolong errno-enotempty rename-over-file rename-over-empty-dir
rename-dir-over-nonempty rename-noreplace write-past-eof truncate-extend
truncate-shrink-grow interrupt enosys errno-eisdir-open errno-eexist-create
errno-eexist-mkdir rename-type-mismatch errno-eisdir-unlink cleanup reply-sizes
destroy"

# run_check NAME CHECK_ARGS...: perfuse check, output in $T/NAME.out (shown),
# stderr in $T/NAME.err, exit status in RC.
run_check() {
	local name=$1
	shift
	RC=0
	timeout 100 "$PERFUSE" check "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
	log "perfuse check $* -> exit status $RC"
	sed 's/^/    /' "$T/$name.out"
	if [ -s "$T/$name.err" ]; then
		echo "    (stderr:)"
		sed 's/^/    | /' "$T/$name.err"
	fi
}

# assert_all_checks NAME: one line per check, in order, and the summary.
assert_all_checks() {
	local got
	got=$(grep -E '^(PASS|FAIL|SKIP) ' "$T/$1.out" | sed -E 's/^[A-Z]+ ([^:]+).*/\1/')
	assert_eq "$(tr -s ' \n' '\n\n' <<<"$CHECKS")" "$got" "the checks reported for $1"
	assert_match "$(tail -n 1 "$T/$1.out")" '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' \
	    "last line of perfuse check ($1)"
}

# result NAME CHECK: PASS, FAIL or SKIP.
result() {
	grep -E "^[A-Z]+ $2(:|\$)" "$T/$1.out" | head -n 1 | cut -d' ' -f1
}

assert_no_fail() {
	if grep -q '^FAIL ' "$T/$1.out"; then
		grep '^FAIL ' "$T/$1.out" >&2
		fail "perfuse check of $1: checks failed"
	fi
	assert_eq 0 "$RC" "exit status of perfuse check ($1)"
}

# ---------------------------------------------------------------------------
log "memfs"
run_check memfs -- "$MEMFS" "$T/no/such/mountpoint" --report="$T/report"
assert_all_checks memfs
assert_no_fail memfs
for c in $CHECKS; do
	assert_eq PASS "$(result memfs "$c")" "result of $c for memfs"
done
for m in 8 12 19 23 31; do
	assert_match "$(grep "^PASS init-7.$m:" "$T/memfs.out")" "agreed 7\.$m " \
	    "the minor agreed at INIT 7.$m"
done
assert_contains "$(cat "$T/memfs.out")" "PASS dot-dotdot: /: '.' and '..' listed"
# memfs's books, written at DESTROY of the battery's session.
assert_eq "outstanding=0" "$(grep '^outstanding=' "$T/report")" "memfs report: outstanding"
assert_eq "bad_forgets=0" "$(grep '^bad_forgets=' "$T/report")" "memfs report: bad_forgets"
assert_eq "destroyed=1" "$(grep '^destroyed=' "$T/report")" "memfs report: destroyed"

log "memfs, --json"
run_check memfs-json --json -- "$MEMFS" /m
assert_eq 0 "$RC" "exit status of perfuse check --json (memfs)"
python3 - "$T/memfs-json.out" "$T/memfs.out" <<'EOF' || fail "perfuse check --json output"
import json, re, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
text = [l.rstrip("\n") for l in open(sys.argv[2]) if re.match(r"(PASS|FAIL|SKIP) ", l)]
assert len(objs) == len(text), (len(objs), len(text))
for o, t in zip(objs, text):
    assert set(o) == {"check", "result", "detail"}, o
    assert t.startswith(o["result"] + " " + o["check"]), (o, t)
EOF

# ---------------------------------------------------------------------------
log "squashfuse"
if command -v squashfuse >/dev/null; then
	mkdir -p "$T/sq/many" "$T/sq/sub"
	for i in $(seq -w 1 70); do echo "$i" >"$T/sq/many/file-$i"; done
	printf 'hello, check\n' >"$T/sq/hello.txt"
	printf 'deeper\n' >"$T/sq/sub/deep.txt"
	ln -s hello.txt "$T/sq/link"
	make_squashfs "$T/sq" "$T/sq.img"
	run_check squashfuse -- squashfuse "$T/sq.img" /m
	assert_all_checks squashfuse
	assert_no_fail squashfuse
	assert_match "$(grep '^SKIP scratch-dir:' "$T/squashfuse.out")" "read-only" \
	    "squashfuse: scratch-dir"
	for c in errno-enotempty rename-over-file write-past-eof truncate-extend \
	    errno-eexist-create errno-eisdir-unlink; do
		assert_match "$(grep "^SKIP $c:" "$T/squashfuse.out")" "read-only" \
		    "squashfuse: $c (a write check)"
	done
	for c in init-7.8 init-7.38 lookup-repeat forget-batch forget-relookup \
	    readdir-resume errno-enoent interrupt reply-sizes destroy; do
		assert_eq PASS "$(result squashfuse "$c")" "result of $c for squashfuse"
	done
	assert_contains "$(cat "$T/squashfuse.out")" "readdir-resume: /many: 70 entries"
else
	log "squashfuse is not installed: skipped"
fi

# ---------------------------------------------------------------------------
# libfuse2: through a private perfused.  Recorded, not required to pass.
if command -v bindfs >/dev/null; then
	log "bindfs (libfuse2, --attach=preload by auto)"
	mkdir -p "$T/bsrc/sub"
	printf 'bound\n' >"$T/bsrc/hello.txt"
	run_check bindfs -- bindfs "$T/bsrc" /m
	assert_all_checks bindfs
	[ "$RC" = 0 ] || [ "$RC" = 1 ] || fail "perfuse check of bindfs: exit status $RC"
	for m in 8 12 19 23 31 38; do
		assert_match "$(grep "^SKIP init-7.$m:" "$T/bindfs.out")" "INIT is perfused's" \
		    "bindfs: init-7.$m"
	done
	if [ "$(result bindfs cleanup)" = PASS ]; then
		assert_eq "hello.txt sub" "$(ls "$T/bsrc" | tr '\n' ' ' | sed 's/ $//')" \
		    "the bound directory after the check's cleanup"
	fi
else
	log "bindfs is not installed: skipped"
fi

if command -v fuse2fs >/dev/null && command -v mkfs.ext4 >/dev/null; then
	log "fuse2fs (libfuse2, --attach=preload)"
	mkfs.ext4 -q -F "$T/ext4.img" 32M >"$T/mkfs.out" 2>&1 || {
		cat "$T/mkfs.out" >&2
		fail "mkfs.ext4 failed"
	}
	run_check fuse2fs --attach=preload -- fuse2fs "$T/ext4.img" /m -o fakeroot
	assert_all_checks fuse2fs
	[ "$RC" = 0 ] || [ "$RC" = 1 ] || fail "perfuse check of fuse2fs: exit status $RC"
	log "e2fsck -fn after the check (recorded)"
	e2fsck -fn "$T/ext4.img" 2>&1 | sed 's/^/    /' || true
else
	log "fuse2fs is not installed: skipped"
fi

# ---------------------------------------------------------------------------
log "a hostile server fails"
run_check badpeer --attach=fd --timeout=2 -- "$BUILD/badpeer" server short /m
assert_eq 1 "$RC" "exit status of perfuse check of a hostile server"
assert_eq FAIL "$(result badpeer reply-sizes)" "reply-sizes for a server whose entries are short"
assert_contains "$(cat "$T/badpeer.out")" "reply shorter than its struct"

log "a server that never answers LOOKUP: FAIL after the timeout, not a hang"
run_check never --attach=fd --timeout=1 -- "$BUILD/badpeer" server never /m
assert_eq 1 "$RC" "exit status of perfuse check of a server that hangs"
assert_match "$(grep '^FAIL errno-enoent:' "$T/never.out")" "no reply to LOOKUP within 1 s"

log "a filesystem that does not start"
run_check false --attach=fd -- /bin/false /m
assert_eq 1 "$RC" "exit status of perfuse check of /bin/false"
assert_match "$(grep '^FAIL init-7.8:' "$T/false.out")" "exited with status 1"
assert_match "$(grep '^FAIL start:' "$T/false.out")" "exited with status 1"

log "usage errors"
expect_fail 2 "$PERFUSE" check
expect_fail 2 "$PERFUSE" check --attach=kernel -- "$MEMFS" /m
expect_fail 2 "$PERFUSE" check -- "$MEMFS"
assert_contains "$("$PERFUSE" check --help)" "usage: perfuse check"
log "ok"
