#!/usr/bin/env bash
# Limits and back pressure (perfused(8), LIMITS): memory stays bounded and
# one mount's trouble never reaches another.
#  1. A server that stops reading after INIT (badpeer "stuck"), flooded
#     with 1 MiB WRITEs by 4 connections for 8 s: perfused stops reading
#     them once its queue towards the server is full, its VmRSS grows by
#     less than 40 MiB, no request fails with anything but ETIMEDOUT (the
#     requests that timed out in the queue are dropped from it), and a
#     memfs mount beside it answers every probe within 10 s meanwhile.
#  2. A server that reads but never answers (badpeer "mute"): one client
#     sending 1100 requests gets exactly 76 EAGAINs (1024 in flight at
#     most); 5 clients with 1024 each fill the mount's 4096 unanswered
#     requests, perfused stops reading that mount, memfs still answers.
#  3. A client that never reads its replies (flooding memfs with GETATTRs)
#     does not delay another client of the same mount, and perfused's
#     memory stays bounded.
#  4. Six such clients reading 1 MiB at a time from a second memfs mount:
#     together they may leave 96 MiB unread (MOUNT_UNREAD_MAX), then the
#     one holding the most is cut off; perfused's VmRSS stays under
#     96 + 40 MiB above where it was, at least one of them is cut off (as
#     many as fall behind that far in 5 s), and the first memfs mount
#     answers meanwhile.
#  5. Connections: one uid holds at most 1024 at once (the next is closed
#     at once, with a warning); a perfused out of descriptors (ulimit -n)
#     closes what it cannot take instead of spinning on it, warns once,
#     and serves again once connections end.
# No timing assertion beyond "answers within 10 s".

# The sanitizer tree keeps freed memory in a quarantine (256 MiB by
# default), which would show in VmRSS as if perfused held it.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
fi
. "$(dirname "$0")/../lib.sh"

BADPEER=$BUILD/badpeer
[ -x "$BADPEER" ] || fail "$BADPEER is missing"
[ -x "$MEMFS" ] || fail "$MEMFS is missing"

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$PERFUSED_PID/status"
}

M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M"
printf 'hello, bystander\n' >"$T/hello"
pf_ok put "$T/hello" "$M/hello"

# probe_memfs WHAT: the memfs mount answers within 10 s.
PROBES=0
probe_memfs() {
	local out rc=0
	out=$(timeout 10 "$PERFUSE" cat "$M/hello" 2>"$T/probe.err") || rc=$?
	if [ "$rc" != 0 ] || [ "$out" != "hello, bystander" ]; then
		show "stderr" "$T/probe.err"
		fail "$1: the memfs mount did not answer within 10 s (status $rc)"
	fi
	PROBES=$((PROBES + 1))
}

# watch_while PID WHAT: until PID exits, sample perfused's VmRSS into
# MAX_RSS and probe the memfs mount.
watch_while() {
	local pid=$1 r
	MAX_RSS=$(rss_kb)
	PROBES=0
	while pid_alive "$pid"; do
		r=$(rss_kb)
		[ "$r" -le "$MAX_RSS" ] || MAX_RSS=$r
		probe_memfs "$2"
		assert_perfused_alive
		sleep 0.3
	done
	[ "$PROBES" -gt 0 ] || fail "$2: the flood ended before any probe"
}

# stat_of NAME: the value of NAME=... in the flood's report ($FLOOD).
stat_of() {
	sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$FLOOD"
}

# run_flood WHAT ARGS...: badpeer flood ARGS in the background, watched.
run_flood() {
	local what=$1 pid rc=0
	shift
	"$BADPEER" flood "$PERFUSE_SOCKET" "$@" >"$T/flood.out" 2>"$T/flood.err" &
	pid=$!
	watch_while "$pid" "$what"
	wait "$pid" || rc=$?
	FLOOD=$(cat "$T/flood.out")
	if [ "$rc" != 0 ]; then
		show "stderr" "$T/flood.err"
		fail "$what: badpeer flood exited with status $rc"
	fi
	log "$what: $FLOOD; VmRSS at most $MAX_RSS kB; $PROBES memfs probes answered"
}

# ---------------------------------------------------------------------------
log "1. a server that stops reading, flooded with 1 MiB WRITEs"
S=$T/mnt/stuck
pf_ok mount -o timeout=4 --attach=fd -- "$BADPEER" server stuck "$S"
BASE=$(rss_kb)
run_flood "stuck server" "$S" 4 8 write
assert_eq 0 "$(stat_of enotconn)" "stuck server: requests failed with ENOTCONN"
assert_eq 0 "$(stat_of other)" "stuck server: requests failed with another error"
assert_eq 0 "$(stat_of closed)" "stuck server: connections perfused closed"
assert_eq 0 "$(stat_of ok)" "stuck server: requests answered by a server that reads nothing"
# More than the queue holds went in, and what timed out was answered so.
[ "$(stat_of sent)" -gt 16 ] || fail "stuck server: only $(stat_of sent) WRITEs were sent"
[ "$(stat_of etimedout)" -gt 0 ] || fail "stuck server: no request timed out"
GROWTH=$(( (MAX_RSS - BASE) / 1024 ))
[ "$GROWTH" -lt 40 ] || fail "stuck server: perfused's VmRSS grew by $GROWTH MiB" \
    "($BASE kB -> $MAX_RSS kB); the queue towards a server is to stay near 8 MiB"
assert_match "$(cat "$PERFUSED_LOG")" "$S: the filesystem is behind" "perfused's log"
# The flood's connections, closed while paused, are gone; the mount
# stays usable as far as a stuck server allows: it ends with its server.
pid=$(mount_field "$S" 3)
kill -KILL "$pid"
n=100
while [ -n "$(mount_field "$S" 1)" ] && [ "$n" -gt 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
[ -z "$(mount_field "$S" 1)" ] || fail "the stuck mount did not end with its server"
probe_memfs "after the stuck server"

# ---------------------------------------------------------------------------
log "2. a server that never answers: the in-flight caps"
Q=$T/mnt/mute
pf_ok mount -o timeout=60 --attach=fd -- "$BADPEER" server mute "$Q"
run_flood "one client, 1100 requests" "$Q" 1 2 getattr max=1100
assert_eq 1100 "$(stat_of sent)" "requests sent"
assert_eq 76 "$(stat_of eagain)" "EAGAIN answers beyond 1024 requests in flight"
assert_eq 76 "$(stat_of replies)" "replies (the rest are unanswered)"
assert_eq 0 "$(stat_of closed)" "connections perfused closed"
pf_ok umount "$Q"

pf_ok mount -o timeout=60 --attach=fd -- "$BADPEER" server mute "$Q"
run_flood "five clients, 1024 requests each" "$Q" 5 3 getattr max=1024
assert_eq 5120 "$(stat_of sent)" "requests sent"
assert_eq 0 "$(stat_of replies)" "replies from a mount that never answers"
assert_match "$(cat "$PERFUSED_LOG")" \
    "$Q: the filesystem is behind \\([0-9]+ bytes queued, 4096 requests unanswered\\)" \
    "perfused's log"
# Control requests are still served, and the mount unmounts.
assert_listed "$Q" badpeer
pf_ok umount "$Q"
probe_memfs "after the mute server"

# ---------------------------------------------------------------------------
log "3. a client that never reads its replies"
BASE=$(rss_kb)
run_flood "deaf client" "$M" 1 6 getattr deaf
[ "$(stat_of sent)" -gt 0 ] || fail "deaf client: nothing was sent"
GROWTH=$(( (MAX_RSS - BASE) / 1024 ))
[ "$GROWTH" -lt 40 ] || fail "deaf client: perfused's VmRSS grew by $GROWTH MiB" \
    "($BASE kB -> $MAX_RSS kB)"
probe_memfs "after the deaf client"

# ---------------------------------------------------------------------------
log "4. deaf clients of 1 MiB READs: the mount's cap on unread replies"
R=$T/mnt/reads
pf_ok mount -- "$MEMFS" "$R"
head -c 1048576 /dev/urandom >"$T/big"
pf_ok put "$T/big" "$R/big"
BASE=$(rss_kb)
run_flood "deaf readers" "$R" 6 5 read=big deaf
GROWTH=$(( (MAX_RSS - BASE) / 1024 ))
[ "$GROWTH" -lt 136 ] || fail "deaf readers: perfused's VmRSS grew by $GROWTH MiB" \
    "($BASE kB -> $MAX_RSS kB); all the unread replies of a mount are to stay under 96 MiB"
[ "$(stat_of closed)" -ge 1 ] || fail "deaf readers: none was cut off"
assert_match "$(cat "$PERFUSED_LOG")" \
    "$R: clients leave [0-9]+ reply bytes unread; client pid [0-9]+, which holds [0-9]+ of them, is cut off" \
    "perfused's log"
probe_memfs "after the deaf readers"
pf_ok get "$R/big" "$T/big.back"
cmp -s "$T/big" "$T/big.back" || fail "deaf readers: $R/big changed"
pf_ok umount "$R"

# ---------------------------------------------------------------------------
log "5. connections per uid, and a perfused out of descriptors"
# conns SOCKET N SECONDS: open N connections to SOCKET, hold them, then
# print "open=N closed=M" (M: those perfused closed on its side).
conns() {
	python3 - "$@" <<'PY'
import resource, socket, sys, time
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < n + 64:
    print("skip: the descriptor limit is %d" % hard)
    sys.exit(0)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    socks.append(s)
time.sleep(secs)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(16) == b"":
            closed += 1
    except BlockingIOError:
        pass
print("open=%d closed=%d" % (len(socks), closed))
PY
}
got=$(conns "$PERFUSE_SOCKET" 1100 2) || fail "connections: the python client failed"
case $got in
skip:*) log "per uid: $got, too few for 1100 connections; not checked";;
*)	# 76 beyond 1024, and a few more if the test's own perfuse commands
	# were still counted.
	case $got in
	"open=1100 closed=7"[6-9] | "open=1100 closed=80") ;;
	*) fail "1100 connections of one uid: $got, expected 76 closed (1024 at most)";;
	esac
	assert_match "$(cat "$PERFUSED_LOG")" "uid [0-9]+ has 1024 connections open; closing the next" \
	    "perfused's log";;
esac
probe_memfs "after 1100 connections"

# A second perfused with 48 descriptors at most: 100 connections.
S2=$T/small.sock
(ulimit -n 48 && exec "$PERFUSED" -f -s "$S2") >"$T/small.log" 2>&1 &
SMALL=$!
n=50
until [ -S "$S2" ] || [ "$n" -eq 0 ]; do sleep 0.1; n=$((n - 1)); done
[ -S "$S2" ] || { show "its log" "$T/small.log"; fail "the small perfused did not start"; }
got=$(conns "$S2" 100 2) || fail "connections to the small perfused: the python client failed"
case $got in
"open=100 closed="*) ;;
*) fail "100 connections to a perfused with 48 descriptors: $got";;
esac
[ "${got#*closed=}" -gt 50 ] || fail "a perfused with 48 descriptors closed only ${got#*closed=} of 100 connections"
warnings=$(grep -c "accept: Too many open files" "$T/small.log" || true)
[ "$warnings" -ge 1 ] && [ "$warnings" -le 2 ] ||
    fail "the small perfused warned $warnings times of accept failing (once is right;" \
	"thousands is a loop spinning on the listening socket)"
# Served again once they are gone (it listens again within a second or so).
n=50
until PERFUSE_SOCKET=$S2 "$PERFUSE" list >/dev/null 2>&1 || [ "$n" -eq 0 ]; do
	sleep 0.2
	n=$((n - 1))
done
PERFUSE_SOCKET=$S2 "$PERFUSE" list >/dev/null 2>"$T/list.err" || {
	show "perfuse list" "$T/list.err"
	fail "the small perfused serves nothing 10 s after the connections ended"
}
kill -TERM "$SMALL"
wait "$SMALL" || true

pf_ok umount "$M"
assert_perfused_alive
fail_deferred
log "done"
