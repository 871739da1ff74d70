#!/usr/bin/env bash
# Several perfuse commands at once against one memfs mount: 8 parallel puts,
# 8 parallel cats, then puts and cats mixed, each byte-correct.
. "$(dirname "$0")/../lib.sh"

N=8
M=$T/mnt/mem

pf_ok mount -- "$MEMFS" "$M" --report="$T/rep"

# Different sizes, none a multiple of a page.
for ((i = 0; i < N; i++)); do
	rand_file "$T/in$i" $(( (i + 1) * 393241 ))
done

# run_parallel NAME CMD_TEMPLATE: run N commands at once, CMD receives i.
run_parallel() {
	local what=$1 i bad=0
	shift
	local pids=()
	for ((i = 0; i < N; i++)); do
		"$@" "$i" >"$T/par$i.out" 2>"$T/par$i.err" &
		pids+=($!)
	done
	for ((i = 0; i < N; i++)); do
		if ! wait "${pids[$i]}"; then
			echo "--- $what #$i failed:" >&2
			sed 's/^/  | /' "$T/par$i.err" >&2
			bad=1
		fi
	done
	[ "$bad" = 0 ] || fail "some of the $N parallel $what commands failed"
}

do_put() { pf put "$T/in$1" "$M/f$1"; }
do_cat() { pf cat "$M/f$1" >"$T/cat$1"; }
do_mixed() {
	if [ $(($1 % 2)) = 0 ]; then
		pf put "$T/in$1" "$M/g$1"
	else
		pf cat "$M/f$1" >"$T/mixed$1"
	fi
}
do_get() { pf get "$M/g$1" "$T/get$1"; }

log "$N parallel puts"
run_parallel put do_put
log "$N parallel cats"
run_parallel cat do_cat
for ((i = 0; i < N; i++)); do
	assert_file_eq "$T/in$i" "$T/cat$i" "parallel cat of f$i"
done

log "$N parallel puts and cats, mixed"
run_parallel "put/cat" do_mixed
for ((i = 0; i < N; i++)); do
	if [ $((i % 2)) = 1 ]; then
		assert_file_eq "$T/in$i" "$T/mixed$i" "mixed cat of f$i"
	fi
done
for ((i = 0; i < N; i += 2)); do
	pf_ok cat "$M/g$i" >"$T/check"
	assert_file_eq "$T/in$i" "$T/check" "mixed put of g$i"
done

log "all of them reading the same file at once"
do_same() { pf cat "$M/f7" >"$T/same$1"; }
run_parallel "cat of f7" do_same
for ((i = 0; i < N; i++)); do
	assert_file_eq "$T/in7" "$T/same$i" "concurrent cat #$i of f7"
done

log "$N parallel ls and stat while files are written"
do_meta() {
	pf put "$T/in$1" "$M/h$1" && pf ls -l "$M" >/dev/null &&
	    pf stat "$M/f$1" >/dev/null
}
run_parallel "put+ls+stat" do_meta
assert_eq "$N" "$(pf_ok ls "$M" | grep -c '^h')" "number of h* files"

pf_ok umount "$M"
rep=$(cat "$T/rep")
assert_match "$rep" '^destroyed=1$' "memfs report"
assert_match "$rep" '^outstanding=0$' "memfs report (outstanding lookups)"
assert_match "$rep" '^bad_forgets=0$' "memfs report (bad forgets)"

assert_perfused_alive
log "ok"
