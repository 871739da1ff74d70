#!/usr/bin/env bash
# The benchmark harness (bench/pfbench.c, "make bench") in its tiny mode, so
# that it never rots: pfbench --smoke (4 MiB files, 100 files, 0.2 s of
# random reads, 1000 live nodes, 64 clients of 5 stats) with rows (c), the
# API path through a private perfused, and (d), libperfuse embedded with
# memfs on a socketpair; rows (a) and (b) need kernel FUSE, which this test
# namespace does not have.  Checks that it succeeds, prints its table and
# writes well-formed JSON with a figure in every cell that must have one.
# No timing is asserted.
PERFUSE_LIB_NO_DAEMON=1
. "$(dirname "$0")/../lib.sh"
asan_allow_shim    # bindfs, row (c), runs with the preload shim

PFBENCH=$BUILD/pfbench
[ -x "$PFBENCH" ] || fail "$PFBENCH is missing (bench/meson.build copies it to the top of the build directory)"
[ -x "$MEMFS" ] || fail "$MEMFS is missing"
command -v python3 >/dev/null || fail "python3 is needed to check the JSON"
HAVE_BINDFS=0
if command -v bindfs >/dev/null; then HAVE_BINDFS=1; fi

log "pfbench --smoke"
rc=0
"$PFBENCH" --smoke --build="$BUILD" --out-dir="$T/out" --workdir="$T/work" \
    >"$T/stdout" 2>"$T/stderr" </dev/null || rc=$?
if [ "$rc" != 0 ]; then
	show "stdout" "$T/stdout"
	show "stderr" "$T/stderr"
	fail "pfbench --smoke: exit status $rc"
fi
OUT=$(cat "$T/stdout")

log "the table"
assert_contains "$OUT" "perfuse benchmark (pfbench, smoke preset)"
assert_match "$OUT" '^machine: [0-9]+ CPUs, '
assert_match "$OUT" '^load average: [0-9.]+ [0-9.]+ [0-9.]+ at start'
assert_contains "$OUT" "== memfs"
NUM='[0-9.]+[kM]?'
assert_match "$OUT" "^\\(c\\) API path +$NUM \\[$NUM-$NUM\\] " "row (c)"
assert_match "$OUT" "^\\(d\\) embedded +$NUM \\[$NUM-$NUM\\] " "row (d)"
assert_match "$OUT" '^\(a\) kernel +n/a \(not selected\)' "row (a)"
assert_match "$OUT" '^perfused adds -?[0-9.]+ us per GETATTR on one CPU' "derived figure"
if [ "$HAVE_BINDFS" = 1 ]; then
	assert_contains "$OUT" "== bindfs"
	assert_match "$OUT" '^\(d\) embedded +n/a \(bindfs is libfuse2' "bindfs row (d)"
fi
assert_match "$OUT" '^results: .*/results-[0-9-]+\.json' "results line"

log "the JSON"
n=$(find "$T/out" -name 'results-2*.json' | wc -l)
assert_eq 1 "$n" "number of results-DATE.json files"
json=$(find "$T/out" -name 'results-2*.json')
assert_file_eq "$json" "$T/out/results-latest.json" "results-latest.json"
python3 - "$json" "$HAVE_BINDFS" <<'PY' || fail "the JSON is not as expected (above)"
import json, sys

path, have_bindfs = sys.argv[1], sys.argv[2] == "1"
with open(path) as f:
    r = json.load(f)
bad = []

def check(cond, what):
    if not cond:
        bad.append(what)

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)

check(r.get("tool") == "pfbench" and r.get("preset") == "smoke", "tool/preset")
m = r.get("machine", {})
check(is_num(m.get("nproc")) and m["nproc"] >= 1, "machine.nproc")
check(isinstance(m.get("model_name"), str) and isinstance(m.get("kernel"), str),
      "machine.model_name/kernel")
ld = r.get("load", {})
check(all(is_num(x) for x in ld.get("start", []) + ld.get("end", []))
      and len(ld.get("start", [])) == 3 and len(ld.get("end", [])) == 3, "load")
runs = r.get("config", {}).get("runs")
check(runs == 3, "config.runs")
check(sorted(r.get("modes", {})) == ["a", "b", "c", "d"], "modes")

io_meta_lat = ["seq_write", "seq_read", "rand_read_4k", "create", "stat",
               "readdir", "unlink", "getattr_1cpu_p50", "getattr_1cpu_p99",
               "getattr_2cpu_p50", "getattr_2cpu_p99"]
perfused = ["clients64_time", "clients64_perfused_rss", "perfused_base_rss",
            "nodes_perfused_rss", "nodes_bytes_per_node"]

def figure(cell, what):
    if not isinstance(cell, dict) or "median" not in cell:
        bad.append(what + ": no figure: " + json.dumps(cell))
        return
    vals = [cell.get("median"), cell.get("min"), cell.get("max")]
    check(all(is_num(v) for v in vals), what + ": median/min/max")
    if all(is_num(v) for v in vals):
        check(cell["min"] <= cell["median"] <= cell["max"], what + ": min <= median <= max")
    check(isinstance(cell.get("runs"), list) and len(cell["runs"]) == runs,
          what + ": %d runs" % runs)
    check("ratio_vs_a" not in cell, what + ": ratio without (a)")

def na(cell, what):
    check(isinstance(cell, dict) and isinstance(cell.get("na"), str) and
          "median" not in cell, what + ": expected n/a: " + json.dumps(cell))

fss = r.get("filesystems", {})
expect = ["memfs"] + (["bindfs"] if have_bindfs else [])
check(sorted(fss) == sorted(expect), "filesystems: %s" % sorted(fss))
for name in expect:
    fs = fss.get(name, {})
    avail = fs.get("available", {})
    check(avail.get("c") is True, name + ": (c) available")
    check(isinstance(avail.get("a"), str) and isinstance(avail.get("b"), str),
          name + ": (a), (b) not selected")
    metrics = fs.get("metrics", {})
    want = io_meta_lat + (perfused if name == "memfs" else [])
    check(sorted(metrics) == sorted(want), name + ": metric names")
    for mid in want:
        cell = metrics.get(mid, {})
        check(isinstance(cell.get("label"), str) and isinstance(cell.get("unit"), str)
              and cell.get("better") in ("higher", "lower"), name + "." + mid + ": label")
        na(cell.get("a"), name + "." + mid + ".a")
        na(cell.get("b"), name + "." + mid + ".b")
        figure(cell.get("c"), name + "." + mid + ".c")
        if name == "memfs" and mid in io_meta_lat:
            figure(cell.get("d"), name + "." + mid + ".d")
        else:
            na(cell.get("d"), name + "." + mid + ".d")
check(is_num(r.get("derived", {}).get("perfused_added_us_1cpu_p50")), "derived")
check(isinstance(r.get("notes"), list), "notes")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
log "nothing left behind"
assert_eq "" "$(find /dev/shm -maxdepth 1 -name 'pfbench-*' -user "$(id -u)" 2>/dev/null)" \
    "pfbench's directories in /dev/shm"
