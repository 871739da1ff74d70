#!/usr/bin/env bash
# perfuse replay: a session of perfuse commands against memfs is recorded
# with "perfuse trace -o", then
#  - replayed against a fresh memfs: no difference, exit status 0, memfs's
#    books balance at its DESTROY;
#  - with one byte of a recorded READ reply changed: exactly that reply
#    differs ("DIFF #N READ: recorded byte ..."), exit status 1;
#  - a second recording that reads a file made before the recording began,
#    replayed against a fresh memfs (where that file is missing): the
#    differences are reported (LOOKUP: recorded success, got ENOENT), exit 1;
#  - --json: one valid object per difference;
#  - not a trace file, usage errors.
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"

M=$T/mnt/mem
mkdir -p "$T/mnt"

# record FILE: start "perfuse trace -o FILE" on $M and wait until it sees
# traffic (the perfuse stat that shows it is recorded too).
TRACE_PID=
record() {
	"$PERFUSE" trace -o "$1" "$M" >"$T/trace.txt" 2>"$T/trace.err" &
	TRACE_PID=$!
	local n=100
	until grep -q GETATTR "$T/trace.txt" 2>/dev/null; do
		pf_ok stat "$M" >/dev/null
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "perfuse trace did not show any traffic within 10 s"
		sleep 0.1
	done
}

# stop_recording: the trace ends with the mount.
stop_recording() {
	local st=0
	pf_ok umount "$M"
	wait "$TRACE_PID" || st=$?
	[ "$st" = 0 ] || { show "trace stderr" "$T/trace.err"; fail "perfuse trace: exit status $st"; }
	TRACE_PID=
}

# replay NAME ARGS...: perfuse replay, stdout in $T/NAME.out, stderr in
# $T/NAME.err, exit status in RC.
replay() {
	local name=$1
	shift
	RC=0
	timeout 100 "$PERFUSE" replay "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
	log "perfuse replay $* -> exit status $RC"
	sed 's/^/    /' "$T/$name.out"
	sed 's/^/    | /' "$T/$name.err"
}

# ---------------------------------------------------------------------------
log "record a session against memfs"
printf 'hello, replay\n' >"$T/hello"
head -c 200000 /dev/urandom >"$T/rand"
printf 'UNIQUE-READ-MARKER: this text is read back once\n' >"$T/marker"
pf_ok mount -- "$MEMFS" "$M"
record "$T/session.trace"
pf_ok put "$T/hello" "$M/hello"
pf_ok put "$T/rand" "$M/rand"
pf_ok mkdir -p "$M/a/b/c"
pf_ok put "$T/marker" "$M/a/b/marker"
pf_ok ls -l "$M" "$M/a/b" >/dev/null
pf_ok cat "$M/hello" >/dev/null
pf_ok get "$M/rand" "$T/rand.back"
pf_ok cat "$M/a/b/marker" >/dev/null
pf_ok mv "$M/hello" "$M/a/hello2"
pf_ok ln -s a/hello2 "$M/link"
pf_ok readlink "$M/link" >/dev/null
pf_ok ln "$M/a/hello2" "$M/hard"
pf_ok truncate -s 5000 "$M/rand"
pf_ok chmod 600 "$M/hard"
pf_ok xattr set "$M/a" user.color blue
pf_ok xattr get "$M/a" user.color >/dev/null
pf_ok xattr list "$M/a" >/dev/null
pf_ok xattr rm "$M/a" user.color
pf_ok stat "$M/a/b/c" >/dev/null
pf_ok df "$M" >/dev/null
pf_ok rm -r "$M/a/b"
expect_fail 1 pf cat "$M/no-such-file"
pf_ok ls -l "$M" >/dev/null
stop_recording
assert_match "$(wc -c <"$T/session.trace")" '^[0-9]{5,}$' "size of the trace file"

log "replay against a fresh memfs: no difference"
replay fresh "$T/session.trace" -- "$MEMFS" /m --report="$T/report"
assert_eq 0 "$RC" "exit status of the replay against a fresh memfs"
assert_eq "" "$(cat "$T/fresh.out")" "differences against a fresh memfs"
assert_match "$(tail -n 1 "$T/fresh.err")" \
    '^perfuse replay: [1-9][0-9]+ requests sent \(at FUSE 7\.[0-9]+\), [0-9]+ not sent, 0 without a recorded reply; 0 differences$' \
    "the summary of the replay"
assert_eq "bad_forgets=0" "$(grep '^bad_forgets=' "$T/report")" "memfs report after the replay"
assert_eq "destroyed=1" "$(grep '^destroyed=' "$T/report")" "memfs report after the replay"

log "the same through a private perfused (--attach=preload)"
asan_allow_shim
replay preload --attach=preload "$T/session.trace" -- "$MEMFS" /m
assert_eq 0 "$RC" "exit status of the replay with --attach=preload"
assert_eq "" "$(cat "$T/preload.out")" "differences with --attach=preload"

log "one byte of a recorded READ reply changed"
# The marker's text appears twice in the trace: in the WRITE of "put" and
# in the READ reply of "cat".  Change the second.
python3 - "$T/session.trace" "$T/changed.trace" <<'EOF' || fail "could not change the trace"
import sys
data = bytearray(open(sys.argv[1], "rb").read())
marker = b"UNIQUE-READ-MARKER"
at = data.rfind(marker)
assert at > 0 and data.find(marker) != at, "the marker should appear twice"
data[at] = ord("X")
open(sys.argv[2], "wb").write(data)
EOF
replay changed "$T/changed.trace" -- "$MEMFS" /m
assert_eq 1 "$RC" "exit status of the replay of a changed trace"
assert_eq 1 "$(wc -l <"$T/changed.out")" "number of differences for one changed byte"
assert_match "$(cat "$T/changed.out")" \
    '^DIFF #[0-9]+ READ: recorded byte 0 0x58, got byte 0 0x55$' "the difference"

log "a file missing: recorded against a memfs that had it"
pf_ok mount -- "$MEMFS" "$M"
pf_ok put "$T/hello" "$M/before"    # made before the recording begins
record "$T/missing.trace"
pf_ok cat "$M/before" >/dev/null
pf_ok put "$T/hello" "$M/after"
pf_ok ls -l "$M" >/dev/null
stop_recording
replay missing "$T/missing.trace" -- "$MEMFS" /m
assert_eq 1 "$RC" "exit status of the replay against a memfs without the file"
assert_match "$(cat "$T/missing.out")" \
    '^DIFF #[0-9]+ LOOKUP: recorded success, 128 bytes, got ENOENT$' \
    "the LOOKUP of the missing file"
assert_match "$(cat "$T/missing.out")" '^DIFF #[0-9]+ READDIR: recorded ' \
    "the listing without the missing file"

log "--json"
replay json --json "$T/missing.trace" -- "$MEMFS" /m
assert_eq 1 "$RC" "exit status of replay --json"
python3 - "$T/json.out" "$T/missing.out" <<'EOF' || fail "perfuse replay --json output"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
text = [l.rstrip("\n") for l in open(sys.argv[2])]
assert len(objs) == len(text) > 0, (len(objs), len(text))
for o, t in zip(objs, text):
    assert set(o) == {"unique", "pid", "opcode", "recorded", "got"}, o
    assert t == "DIFF #%d %s: recorded %s, got %s" % (o["unique"], o["opcode"],
        o["recorded"], o["got"]), (o, t)
EOF

log "errors"
printf 'not a trace\n' >"$T/bogus"
expect_fail 1 "$PERFUSE" replay "$T/bogus" -- "$MEMFS" /m
assert_contains "$ERR" "not a perfuse trace file"
expect_fail 1 "$PERFUSE" replay "$T/no-such-file" -- "$MEMFS" /m
expect_fail 2 "$PERFUSE" replay
expect_fail 2 "$PERFUSE" replay "$T/session.trace"
expect_fail 2 "$PERFUSE" replay --minor=3 "$T/session.trace" -- "$MEMFS" /m
assert_contains "$("$PERFUSE" replay --help)" "usage: perfuse replay"
log "ok"
