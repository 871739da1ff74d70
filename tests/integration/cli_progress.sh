#!/usr/bin/env bash
# The progress bar of perfuse get and put, in a real pseudo-terminal
# (script(1)): shown for a file over 4 MiB when stderr is a terminal, with
# the percentage, the size, the rate and the ETA, then a final line with
# 100% and the time taken; never for -q, for small files, or when stderr
# is not a terminal.  The copies themselves must be exact all the same.
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
command -v script >/dev/null || fail "script(1) (util-linux) is needed"

M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M"
rand_file "$T/big" $((6 * 1024 * 1024))
rand_file "$T/small" $((1024 * 1024))
# Exactly the threshold: no bar (it is for files larger than 4 MiB).
rand_file "$T/edge" $((4 * 1024 * 1024))

# in_tty CMD...: run CMD with a terminal as stdin, stdout and stderr;
# what the terminal showed goes to $T/tty, CMD's exit status is returned.
in_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	script -qec "$cmd" /dev/null >"$T/tty" 2>&1 </dev/null
}

# assert_bar WHAT: $T/tty shows a progress bar that reached 100%.
assert_bar() {
	local out
	out=$(tr '\r' '\n' <"$T/tty")
	assert_match "$out" '\[#+-*\] +[0-9]+%' "$1: the bar"
	assert_match "$out" 'ETA [0-9]+:[0-9][0-9]' "$1: an ETA while copying"
	assert_match "$out" '\[#+\] 100% +6\.0 MiB/6\.0 MiB +[0-9.]+ [KMG]?i?B/s +in +[0-9]+:[0-9][0-9]' \
	    "$1: the final line"
	# The name: a path too long for the line shows its last component.
	assert_match "$out" '^big +\[' "$1: the name"
}

log "put: a bar on a terminal"
in_tty "$PERFUSE" put "$T/big" "$M/big" || { show "terminal" "$T/tty"; fail "put failed"; }
assert_bar "perfuse put of 6 MiB"
pf_ok get -q "$M/big" "$T/big.q"
assert_file_eq "$T/big" "$T/big.q" "put then get -q"

log "get: a bar on a terminal"
in_tty "$PERFUSE" get "$M/big" "$T/big.back" || { show "terminal" "$T/tty"; fail "get failed"; }
assert_bar "perfuse get of 6 MiB"
assert_file_eq "$T/big" "$T/big.back" "get under a terminal"

log "no bar: -q, small files, exactly 4 MiB, stderr not a terminal"
for args in "put -q $T/big $M/big2" "get -q $M/big $T/big2" \
    "put $T/small $M/small" "get $M/small $T/small.back" \
    "put $T/edge $M/edge" "get $M/edge $T/edge.back" \
    "get --quiet $M/big $T/big3"; do
	# shellcheck disable=SC2086 # args are words
	in_tty "$PERFUSE" $args || { show "terminal" "$T/tty"; fail "perfuse $args failed"; }
	[ ! -s "$T/tty" ] || { show "terminal" "$T/tty"; fail "perfuse $args printed something"; }
done
assert_file_eq "$T/small" "$T/small.back" "get of the small file"
assert_file_eq "$T/edge" "$T/edge.back" "get of the 4 MiB file"
# A terminal on stdout only.
script -qec "$(printf '%q ' "$PERFUSE" get "$M/big" "$T/big4") 2>$(printf '%q' "$T/err")" \
    /dev/null >"$T/tty" </dev/null || fail "get with stderr to a file failed"
[ ! -s "$T/err" ] || { show "stderr" "$T/err"; fail "a bar when stderr is a file"; }
# And no terminal at all.
pf_ok get "$M/big" "$T/big5" 2>"$T/err"
[ ! -s "$T/err" ] || { show "stderr" "$T/err"; fail "a bar with no terminal"; }
assert_file_eq "$T/big" "$T/big5" "get with no terminal"

log "an error while copying: the message alone on its line"
rc=0
in_tty "$PERFUSE" get "$M/big" /dev/full || rc=$?
assert_eq 1 "$rc" "exit status of get into /dev/full"
assert_eq "perfuse: /dev/full: No space left on device" "$(tr -d '\r' <"$T/tty")" \
    "what get into /dev/full shows"

pf_ok umount "$M"
